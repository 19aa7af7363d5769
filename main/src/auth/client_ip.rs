//! Who is calling, for login limits and the audit log. The TCP peer, unless that peer is a configured
//! trusted proxy (`server.trusted_proxies`): then the client is the rightmost `X-Forwarded-For` hop that is
//! not itself a trusted proxy (hops further left were written by the client and prove nothing). Limits
//! count IPv6 clients per /64, the block one host is usually given, so rotating addresses inside it gains
//! nothing.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An address block, `10.0.0.0/8`, `fd00::/8`, or one address (`192.0.2.7`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = canonical(
            addr.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?,
        );
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` lies in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `bits`-wide address.
fn masked(addr: u128, bits: u8, prefix: u8) -> u128 {
    let drop = u32::from(bits.saturating_sub(prefix));
    addr.checked_shr(drop).unwrap_or(0)
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.7`, what a dual-stack socket reports) as the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The limiter bucket of a client address: the address itself for IPv4, its /64 for IPv6.
pub fn bucket(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)));
            format!("{net}/64")
        }
    }
}

/// The parsed `server.trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses the configured list; the error names the entry and what to write.
    pub fn parse(list: &[String]) -> Result<TrustedProxies, String> {
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                s.parse().map_err(|e| {
                    format!(
                        "server.trusted_proxies[{i}]: {e}; write the reverse proxy's address or block, \
                         e.g. \"127.0.0.1\" or \"10.0.0.0/8\""
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client behind a request from `peer`: `peer` itself unless it is trusted, else the rightmost
    /// `X-Forwarded-For` hop that is not trusted (the leftmost when all are; `peer` when the header is
    /// missing or a hop is unreadable, since nothing further left can be believed). `forwarded_for` is
    /// every value of the header, in order, each a comma-separated list of hops.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.7:5000`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// The caller of a request as limits and the audit log see it: the client address (through trusted
/// proxies) and the TCP peer it arrived from.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr {
    /// The client, see [`TrustedProxies::client_ip`].
    pub ip: IpAddr,
    /// The TCP peer (the proxy, when there is one).
    pub peer: SocketAddr,
}

impl ClientAddr {
    /// The login limiter's key for this client: per address, IPv6 per /64.
    pub fn limiter_key(&self) -> String {
        format!("ip:{}", bucket(self.ip))
    }
}

/// `203.0.113.9 via 127.0.0.1:40112` behind a proxy, the peer (`192.0.2.7:51234`) otherwise.
impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ip == canonical(self.peer.ip()) {
            write!(f, "{}", self.peer)
        } else {
            write!(f, "{} via {}", self.ip, self.peer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff<'a>(values: &[&'a str]) -> Vec<&'a str> {
        values.to_vec()
    }

    /// Proves blocks and single addresses match what they should, IPv4-mapped IPv6 included, and bad
    /// entries are refused with the key named.
    #[test]
    fn blocks_match_and_bad_entries_are_named() {
        let p =
            TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into(), "fd00::/8".into()]).unwrap();
        assert!(p.contains(ip("10.200.3.4")) && p.contains(ip("::ffff:10.0.0.1")));
        assert!(p.contains(ip("::1")) && p.contains(ip("fd12::5")));
        assert!(!p.contains(ip("11.0.0.1")) && !p.contains(ip("127.0.0.1")));
        assert!(!p.contains(ip("fe00::1")));
        assert!(
            TrustedProxies::parse(&["0.0.0.0/0".into()])
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in ["10.0.0.0/33", "proxy.local", "::/129", ""] {
            let e = TrustedProxies::parse(&["127.0.0.1".into(), bad.into()]).unwrap_err();
            assert!(e.contains("server.trusted_proxies[1]"), "{e}");
        }
    }

    /// Proves X-Forwarded-For counts only behind a trusted peer, and then the rightmost untrusted hop is
    /// the client: hops a client prepends are ignored, chained trusted proxies are skipped.
    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let p = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let spoof = xff(&["1.1.1.1, 203.0.113.9"]);
        assert_eq!(
            p.client_ip(ip("198.51.100.4"), spoof.clone()),
            ip("198.51.100.4")
        );
        assert_eq!(p.client_ip(ip("127.0.0.1"), spoof), ip("203.0.113.9"));
        let chained = xff(&["1.1.1.1", "203.0.113.9, 10.1.1.1"]);
        assert_eq!(p.client_ip(ip("127.0.0.1"), chained), ip("203.0.113.9"));
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), xff(&["10.0.0.2, 10.0.0.3"])),
            ip("10.0.0.2")
        );
        assert_eq!(p.client_ip(ip("127.0.0.1"), []), ip("127.0.0.1"));
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), xff(&["203.0.113.9, garbage, 10.0.0.4"])),
            ip("10.0.0.4")
        );
        assert_eq!(
            p.client_ip(ip("::ffff:127.0.0.1"), xff(&["[2001:db8::7]:443"])),
            ip("2001:db8::7")
        );
    }

    /// Proves IPv6 clients share a bucket per /64 while IPv4 clients are counted per address.
    #[test]
    fn ipv6_is_bucketed_by_64() {
        assert_eq!(
            bucket(ip("2001:db8:1:2::1")),
            bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(bucket(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_ne!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:3::1")));
        assert_ne!(bucket(ip("192.0.2.1")), bucket(ip("192.0.2.2")));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }
}
