//! Go-style durations as Terraform users write them (`"8h"`, `"30m"`, `"90s"`, `"1h30m"`,
//! `"1.5h"`, `"500ms"`), the syntax `timeouts` blocks and terraform-provider-talos use.
//!
//! Accepted: one or more `<decimal number><unit>` terms, units `ns`, `us`/`µs`, `ms`, `s`, `m`,
//! `h`. Refused: signs, bare numbers other than `0`, unknown units, and anything past ~292 years.

use std::time::Duration;

/// Why a duration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not the Go duration syntax.
    #[error(
        "{text:?} is not a duration; write a number and a unit, e.g. \"90s\", \"30m\", \"8h\" or \"1h30m\" (units: ns, us, ms, s, m, h)"
    )]
    Syntax {
        /// The text given.
        text: String,
    },
    /// A unit that is not one of `ns us µs ms s m h` (days are deliberately not Go syntax).
    #[error(
        "{text:?} uses the unit {unit:?}; accepted units: ns, us, ms, s, m, h (for days write e.g. \"48h\")"
    )]
    Unit {
        /// The text given.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// Too large to represent.
    #[error("{text:?} is too long a duration")]
    Overflow {
        /// The text given.
        text: String,
    },
    /// Outside the range a particular attribute accepts.
    #[error("{text:?} is outside the accepted range {min} to {max}")]
    OutOfRange {
        /// The text given.
        text: String,
        /// Shortest accepted, as text.
        min: String,
        /// Longest accepted, as text.
        max: String,
    },
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a Go-style duration.
pub fn parse(text: &str) -> Result<Duration, Error> {
    let syntax = || Error::Syntax {
        text: text.to_owned(),
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(syntax());
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty()
            || number.matches('.').count() > 1
            || unit.is_empty()
        {
            return Err(syntax());
        }
        let scale = unit_nanos(unit).ok_or_else(|| {
            if unit.chars().all(|c| c.is_alphabetic()) {
                Error::Unit {
                    text: text.to_owned(),
                    unit: unit.to_owned(),
                }
            } else {
                syntax()
            }
        })?;
        let overflow = || Error::Overflow {
            text: text.to_owned(),
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let mut nanos = whole.checked_mul(scale).ok_or_else(overflow)?;
        // Fractions: digits beyond nanosecond precision are dropped, as Go does.
        let mut place = scale;
        for digit in fraction.bytes() {
            place /= 10;
            nanos += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        rest = tail;
    }
    if total > u128::from(i64::MAX as u64) {
        return Err(Error::Overflow {
            text: text.to_owned(),
        });
    }
    let secs = (total / 1_000_000_000) as u64;
    let sub = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// Parses a duration and checks it lies in `min..=max` (given as Go-style texts for messages).
pub fn parse_within(text: &str, min: Duration, max: Duration) -> Result<Duration, Error> {
    let value = parse(text)?;
    if value < min || value > max {
        return Err(Error::OutOfRange {
            text: text.to_owned(),
            min: format_duration(min),
            max: format_duration(max),
        });
    }
    Ok(value)
}

/// Formats a whole-second duration the way Go prints it (`1h30m0s` → `1h30m`, trimmed).
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_examples() {
        assert_eq!(parse("8h").unwrap(), Duration::from_secs(8 * 3600));
        assert_eq!(parse("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("2µs").unwrap(), Duration::from_micros(2));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn refusals_say_what_is_accepted() {
        for bad in ["", "8", "h", "-5m", "1..5h", "8 h", "1h-2m", "."] {
            assert!(
                matches!(parse(bad), Err(Error::Syntax { .. })),
                "{bad}: {:?}",
                parse(bad)
            );
        }
        let msg = parse("2d").unwrap_err().to_string();
        assert!(msg.contains("\"d\"") && msg.contains("48h"), "{msg}");
        assert!(matches!(parse("3000000h"), Err(Error::Overflow { .. })));
    }

    #[test]
    fn ranges() {
        let (min, max) = (Duration::from_secs(60), Duration::from_secs(8760 * 3600));
        assert!(parse_within("8h", min, max).is_ok());
        let msg = parse_within("30s", min, max).unwrap_err().to_string();
        assert!(msg.contains("1m0s") || msg.contains("1m"), "{msg}");
        assert!(msg.contains("8760h"), "{msg}");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
