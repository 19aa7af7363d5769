//! Exponential backoff with full jitter, for reconnect loops.

use std::time::Duration;

/// Delays between reconnect attempts: each failure doubles the ceiling (from `min` up to `max`), and the
/// actual wait is drawn uniformly from the upper half of the ceiling so a fleet of nodes restarting together
/// does not reconnect in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    ceiling: Duration,
}

impl Backoff {
    /// A backoff starting at `min` and never waiting more than `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff {
            min,
            max,
            ceiling: min,
        }
    }

    /// The delay before the next attempt; also advances the ceiling.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (self.ceiling * 2).min(self.max);
        jitter(ceiling)
    }

    /// Back to the first delay, after a link that stayed up long enough.
    pub fn reset(&mut self) {
        self.ceiling = self.min;
    }

    /// The current ceiling (for status display).
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }
}

/// A duration drawn uniformly from `[d/2, d]`.
fn jitter(d: Duration) -> Duration {
    let half = d / 2;
    let span = u64::try_from((d - half).as_micros()).unwrap_or(u64::MAX);
    if span == 0 {
        return d;
    }
    let mut b = [0u8; 8];
    crate::keys::fill_random(&mut b);
    half + Duration::from_micros(u64::from_le_bytes(b) % (span + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves delays grow exponentially, stay within [ceiling/2, ceiling], cap at max and reset.
    #[test]
    fn grows_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let c = b.ceiling();
            let d = b.next_delay();
            assert!(d >= c / 2 && d <= c, "{d:?} outside [{:?}, {c:?}]", c / 2);
            ceilings.push(c.as_secs());
        }
        assert_eq!(ceilings, vec![1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }
}
