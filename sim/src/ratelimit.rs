//! A token bucket matching Hetzner's rate limit: `limit` requests per hour, refilled continuously,
//! reported in `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (Unix time when full).
//! The refill period is an hour unless `--rate-limit-period` shortens it, so that tests can see a
//! bucket empty and refill in seconds; the headers then describe that faster bucket truthfully.

use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

/// The bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: u32,
    tokens: f64,
    last: Duration,
    /// The time a whole bucket takes to refill (an hour at Hetzner).
    period: Duration,
    /// The fewest requests left after any request since the last refill to full.
    low_water: f64,
}

impl TokenBucket {
    /// A full bucket of `limit_per_hour` tokens.
    pub fn new(limit_per_hour: u32, now: Duration) -> Self {
        TokenBucket {
            limit: limit_per_hour,
            tokens: f64::from(limit_per_hour),
            last: now,
            period: HOUR,
            low_water: f64::from(limit_per_hour),
        }
    }

    /// The same bucket refilling completely in `period` instead of an hour.
    #[must_use]
    pub fn with_period(mut self, period: Duration) -> Self {
        self.period = if period.is_zero() { HOUR } else { period };
        self
    }

    /// The fewest whole requests that were left after any request since the bucket was last
    /// refilled to full (`/_sim/reset`): how close the project came to 429s.
    pub fn lowest_remaining(&self) -> u32 {
        self.low_water.floor() as u32
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(self.limit) / self.period.as_secs_f64())
            .min(f64::from(self.limit));
        self.last = now;
    }

    /// Refills completely (used by `/_sim/reset`).
    pub fn refill_full(&mut self, now: Duration) {
        self.tokens = f64::from(self.limit);
        self.low_water = self.tokens;
        self.last = now;
    }

    /// Takes one token; `false` when the bucket is empty.
    pub fn try_take(&mut self, now: Duration) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.low_water = self.low_water.min(self.tokens);
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
        (missing * self.period.as_secs_f64() / f64::from(self.limit)).ceil() as u64
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
        assert_eq!(b.lowest_remaining(), 0);
    }

    #[test]
    fn a_shorter_period_refills_faster_and_says_so() {
        let mut b = TokenBucket::new(60, Duration::ZERO).with_period(Duration::from_secs(30));
        for _ in 0..60 {
            assert!(b.try_take(Duration::ZERO));
        }
        assert_eq!(b.seconds_until_full(), 30);
        // Two requests a second.
        assert!(b.try_take(Duration::from_millis(500)));
        assert!(!b.try_take(Duration::from_millis(500)));
        b.refill_full(Duration::from_secs(1));
        assert_eq!(b.lowest_remaining(), 60);
    }
}
