//! Helpers the benchmark binaries share: sizes from the environment, percentiles, a process's resident memory
//! and a wall-clock timestamp two processes agree on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `name` from the environment parsed as a number, else `default` (unset or not a number).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median and the 99th percentile of `v` (not empty).
pub fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let n = v.len();
    (v[n * 50 / 100], v[(n * 99 / 100).min(n - 1)])
}

/// Resident set size of a process in bytes (VmRSS), `None` if it is gone.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Nanoseconds since the Unix epoch: a timestamp one process writes and another compares with its own.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
