//! Fixed-window rate limiting for logins, keyed by client address and by username.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Allows `max` hits per key per `window`.
pub struct RateLimiter {
    max: u32,
    window: Duration,
    hits: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// A limiter allowing `max` hits per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has used up its hits for the current window (without counting one).
    pub fn exhausted(&self, key: &str) -> bool {
        let now = Instant::now();
        let hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        hits.get(key)
            .is_some_and(|(start, n)| now.duration_since(*start) < self.window && *n >= self.max)
    }

    /// The window's length in whole seconds (at least 1): how long a caller refused by
    /// [`exhausted`](Self::exhausted) may have to wait.
    pub fn window_secs(&self) -> u64 {
        self.window.as_secs().max(1)
    }

    /// Records a hit for `key`; `Err(seconds)` says how long until it is allowed again.
    pub fn hit(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > 10_000 {
            hits.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = hits.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the limiter allows `max` hits per key, then refuses with a retry time, independently per key.
    #[test]
    fn limits_per_key() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        assert!(l.hit("a").is_ok() && l.hit("a").is_ok());
        let retry = l.hit("a").unwrap_err();
        assert!((1..=60).contains(&retry));
        assert!(l.hit("b").is_ok());
    }
}
