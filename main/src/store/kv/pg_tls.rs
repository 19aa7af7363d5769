//! How the PostgreSQL backend's connections are made: the URL (and how it is shown without its password),
//! socket options and TLS.
//!
//! TLS is always rustls over the aws-lc-rs provider, named explicitly (never a process-wide default).
//! [`TlsMode::Require`] is libpq's `sslmode=require`: the connection is encrypted but the server's certificate
//! is not checked (handshake signatures still are, so the session key belongs to whoever holds that
//! certificate). [`TlsMode::VerifyFull`] checks the certificate against `ca_file`, or the system's roots, and
//! the host name against it.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;

use super::PgOptions;

/// Debian's bundle of the system's trusted roots, used by `verify-full` when no `ca_file` is given.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";
/// After this long without traffic TCP asks whether the peer is still there; unanswered data gives up as soon.
const KEEPALIVE: Duration = Duration::from_secs(10);

/// TLS to the database, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP (a database on the same host or a private network).
    #[default]
    Disable,
    /// Encrypted, but any server certificate is accepted (`sslmode=require`).
    Require,
    /// Encrypted, with the certificate checked against `ca_file` (or the system's roots) and the host name.
    VerifyFull,
}

/// The pool's connection manager for `opts`: its URL with our timeouts and keepalives, and its TLS.
pub(super) fn manager(opts: &PgOptions) -> anyhow::Result<Manager> {
    let (config, tls) = connection(opts)?;
    let recycling = ManagerConfig {
        // Fast: a closed connection is noticed without a query; Verified would cost a round trip per checkout.
        recycling_method: RecyclingMethod::Fast,
    };
    Ok(match tls {
        None => Manager::from_config(config, tokio_postgres::NoTls, recycling),
        Some(tls) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            Manager::from_config(config, tls, recycling)
        }
    })
}

/// A connection of its own, outside the pool, whose notifications are passed to `heard` with `true`; once
/// it ends (the database went away), `heard` is called once with `false`. Resolves once `LISTEN channel`
/// is in place. Runs on the database runtime.
pub(super) async fn listen(
    opts: &PgOptions,
    channel: &str,
    heard: impl Fn(bool) + Send + 'static,
) -> anyhow::Result<()> {
    let (config, tls) = connection(opts)?;
    let (client, driver) = match tls {
        None => {
            let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
            (client, tokio::spawn(drive(conn, heard)))
        }
        Some(tls) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            let (client, conn) = config.connect(tls).await?;
            (client, tokio::spawn(drive(conn, heard)))
        }
    };
    if let Err(e) = client.batch_execute(&format!("LISTEN {channel}")).await {
        driver.abort();
        return Err(anyhow!(super::error_text(&e)));
    }
    // The connection lives as long as its client: keep it until the connection ends.
    tokio::spawn(async move {
        let _client = client;
        let _ = driver.await;
    });
    Ok(())
}

/// Polls a connection for its messages until it ends, passing each notification on.
async fn drive<S, T>(mut conn: tokio_postgres::Connection<S, T>, heard: impl Fn(bool))
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures::StreamExt;
    let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
    while let Some(Ok(message)) = messages.next().await {
        if matches!(message, tokio_postgres::AsyncMessage::Notification(_)) {
            heard(true);
        }
    }
    heard(false);
}

/// The driver's configuration for `opts` (its URL with our timeouts and keepalives) and its TLS.
pub(super) fn connection(
    opts: &PgOptions,
) -> anyhow::Result<(tokio_postgres::Config, Option<ClientConfig>)> {
    let mut config = tokio_postgres::Config::from_str(&opts.url).map_err(|e| {
        let why = super::error_text(&e);
        anyhow!(
            "database.url is not a PostgreSQL URL ({why}); it looks like {}",
            super::URL_SHAPE
        )
    })?;
    config
        .connect_timeout(opts.connect_timeout.max(Duration::from_secs(1)))
        .keepalives(true)
        .keepalives_idle(KEEPALIVE)
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        .tcp_user_timeout(KEEPALIVE)
        .ssl_mode(match opts.tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Require | TlsMode::VerifyFull => SslMode::Require,
        });
    if config.get_application_name().is_none() {
        config.application_name("vibebridge");
    }
    Ok((config, client_config(opts.tls, opts.ca_file.as_deref())?))
}

/// The rustls client configuration for `mode` (`None`: no TLS).
fn client_config(mode: TlsMode, ca_file: Option<&Path>) -> anyhow::Result<Option<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("setting up TLS for PostgreSQL")?;
    let config = match mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(algorithms)))
            .with_no_client_auth(),
        TlsMode::VerifyFull => builder
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth(),
    };
    Ok(Some(config))
}

/// The trust anchors of `verify-full`: every certificate in `ca_file` (PEM), or the system's bundle.
fn roots(ca_file: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let path = ca_file.unwrap_or(Path::new(SYSTEM_ROOTS));
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| match ca_file {
            Some(_) => format!("reading database.ca_file {}", path.display()),
            None => format!(
                "reading the system's CA certificates ({}) for tls = \"verify-full\": install \
                 ca-certificates, or name the server's CA in database.ca_file",
                path.display()
            ),
        })?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        bail!("{} holds no usable PEM certificate", path.display());
    }
    Ok(store)
}

/// `sslmode=require`: any certificate is accepted, but the handshake must be signed by its key.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `url` with its password replaced by `***`: the one in the user part (`postgres://user:***@host/db`) and
/// any `password=` (or `sslpassword=`) parameter, in URL or `key=value` form.
pub fn mask_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme) = url.find("://") {
        let rest = &url[scheme + 3..];
        let query = rest.find('?').unwrap_or(rest.len());
        // The last `@` before the query, so an unescaped `@` in the password is masked too.
        if let Some(at) = rest[..query].rfind('@').or_else(|| rest.find('@'))
            && let Some(colon) = rest[..at].find(':')
        {
            out.replace_range(scheme + 3 + colon + 1..scheme + 3 + at, "***");
        }
    }
    let (lower, bytes) = (out.to_ascii_lowercase(), out.as_bytes());
    let skip_spaces = |i: usize| {
        i + bytes[i.min(bytes.len())..]
            .iter()
            .take_while(|b| **b == b' ')
            .count()
    };
    let (mut masked, mut pos) = (String::with_capacity(out.len()), 0);
    while let Some(found) = lower[pos..].find("password") {
        let eq = skip_spaces(pos + found + "password".len());
        let value = skip_spaces(eq + 1);
        masked.push_str(&out[pos..eq]);
        pos = eq;
        if bytes.get(eq) != Some(&b'=') {
            continue;
        }
        let end = if bytes.get(value) == Some(&b'\'') {
            let mut i = value + 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            (i + 1).min(bytes.len())
        } else {
            let end = out[value..].find(|c: char| c == '&' || c.is_whitespace());
            end.map_or(out.len(), |e| value + e)
        };
        masked.push_str(&out[eq..value]);
        masked.push_str("***");
        pos = end;
    }
    masked.push_str(&out[pos..]);
    masked
}

#[cfg(test)]
mod tests {
    use super::mask_url;

    /// Proves passwords are masked in the user part and in parameters, and nothing else is touched.
    #[test]
    fn masks_passwords() {
        let cases = [
            (
                "postgres://vb:s3cr@t@db:5432/x",
                "postgres://vb:***@db:5432/x",
            ),
            (
                "postgres://vb@db/x?password=p&sslmode=disable",
                "postgres://vb@db/x?password=***&sslmode=disable",
            ),
            (
                "host=db password = 'a b\\'c' user=vb",
                "host=db password = *** user=vb",
            ),
            (
                "postgresql://[::1]:5432/password",
                "postgresql://[::1]:5432/password",
            ),
            (
                "host=h sslpassword=x password",
                "host=h sslpassword=*** password",
            ),
        ];
        for (url, masked) in cases {
            assert_eq!(mask_url(url), masked);
        }
    }
}
