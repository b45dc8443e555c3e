//! The sim's clock: monotonic time for action deadlines and rate-limit refills, wall time for the
//! ISO-8601 timestamps in replies. Tests can use a manual clock that only moves when told to.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Monotonic and wall time as the sim sees it.
#[derive(Debug, Clone)]
pub struct Clock {
    source: Source,
    wall_start: OffsetDateTime,
}

#[derive(Debug, Clone)]
enum Source {
    Real(Instant),
    Manual(Arc<Mutex<Duration>>),
}

impl Clock {
    /// A clock following real time.
    pub fn real() -> Self {
        Clock {
            source: Source::Real(Instant::now()),
            wall_start: OffsetDateTime::now_utc(),
        }
    }

    /// A clock that stands still until [`Clock::advance`] is called.
    pub fn manual() -> Self {
        Clock {
            source: Source::Manual(Arc::default()),
            wall_start: OffsetDateTime::now_utc(),
        }
    }

    /// Time since the sim started.
    pub fn elapsed(&self) -> Duration {
        match &self.source {
            Source::Real(start) => start.elapsed(),
            Source::Manual(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Moves a manual clock forward (no effect on a real clock).
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(now) = &self.source {
            *now.lock().unwrap_or_else(PoisonError::into_inner) += by;
        }
    }

    /// Current wall time.
    pub fn now_utc(&self) -> OffsetDateTime {
        self.wall_start + self.elapsed()
    }

    /// Current wall time in the `2016-01-30T23:55:00+00:00` form Hetzner uses.
    pub fn timestamp(&self) -> String {
        format_timestamp(self.now_utc())
    }
}

/// Formats a time as RFC 3339 with a numeric `+00:00` offset, as Hetzner does.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339)
        .map(|s| s.replace('Z', "+00:00"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = Clock::manual();
        assert_eq!(c.elapsed(), Duration::ZERO);
        c.advance(Duration::from_secs(3));
        assert_eq!(c.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn timestamps_are_iso8601_with_offset() {
        let t = format_timestamp(time::macros::datetime!(2016-01-30 23:55:00.123 UTC));
        assert_eq!(t, "2016-01-30T23:55:00+00:00");
    }
}
