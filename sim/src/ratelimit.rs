//! A token bucket matching Hetzner's rate limit: `limit` requests per hour, refilled continuously,
//! reported in `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (Unix time when full).

use std::time::Duration;

/// The bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: u32,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket of `limit_per_hour` tokens.
    pub fn new(limit_per_hour: u32, now: Duration) -> Self {
        TokenBucket {
            limit: limit_per_hour,
            tokens: f64::from(limit_per_hour),
            last: now,
        }
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * f64::from(self.limit) / 3600.0).min(f64::from(self.limit));
        self.last = now;
    }

    /// Refills completely (used by `/_sim/reset`).
    pub fn refill_full(&mut self, now: Duration) {
        self.tokens = f64::from(self.limit);
        self.last = now;
    }

    /// Takes one token; `false` when the bucket is empty.
    pub fn try_take(&mut self, now: Duration) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The configured limit per hour.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Whole tokens left.
    pub fn remaining(&self) -> u32 {
        self.tokens.floor() as u32
    }

    /// Seconds until the bucket is full again.
    pub fn seconds_until_full(&self) -> u64 {
        if self.limit == 0 {
            return 0;
        }
        let missing = f64::from(self.limit) - self.tokens;
        (missing * 3600.0 / f64::from(self.limit)).ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empties_then_refills_over_time() {
        let mut b = TokenBucket::new(3600, Duration::ZERO);
        for _ in 0..3600 {
            assert!(b.try_take(Duration::ZERO));
        }
        assert!(!b.try_take(Duration::ZERO));
        assert_eq!(b.seconds_until_full(), 3600);
        assert!(b.try_take(Duration::from_secs(1)));
        assert_eq!(b.remaining(), 0);
    }
}
