//! Arbitrary-precision decimal numbers, as Terraform's `number` type requires.
//!
//! Terraform numbers are big floats; on the wire they arrive as msgpack ints, float64s or decimal
//! strings. [`Number`] keeps them as an exact decimal (digits × 10^exponent), so nothing a user
//! writes is rounded on its way through the provider.

use std::fmt;
use std::str::FromStr;

/// An exact decimal number: `(-1)^negative × digits × 10^exponent`.
///
/// The representation is normalised (no leading or trailing zeros in `digits`, zero has empty
/// digits and is never negative), so derived equality is numeric equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    digits: String,
    exponent: i64,
}

/// Largest exponent magnitude accepted (far beyond any real value, far below `i64::MAX`).
const MAX_EXPONENT: u64 = 1 << 40;

/// How many zeros [`Number`]'s `Display` writes out before switching to exponent notation.
const MAX_PLAIN_ZEROS: i64 = 400;

/// The text given to [`Number::from_str`] is not a decimal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a decimal number")]
pub struct ParseNumberError {
    /// The rejected input.
    pub text: String,
}

impl Number {
    /// Zero.
    #[must_use]
    pub fn zero() -> Self {
        Self {
            negative: false,
            digits: String::new(),
            exponent: 0,
        }
    }

    fn normalized(negative: bool, digits: &str, exponent: i64) -> Self {
        let digits = digits.trim_start_matches('0');
        let trimmed = digits.trim_end_matches('0');
        if trimmed.is_empty() {
            return Self::zero();
        }
        let dropped = (digits.len() - trimmed.len()) as i64;
        Self {
            negative,
            digits: trimmed.to_owned(),
            exponent: exponent + dropped,
        }
    }

    /// Converts a float; `None` for NaN and infinities, which Terraform numbers cannot hold.
    ///
    /// Uses the shortest decimal that reads back as the same float, which is what a user wrote
    /// when the float came from a literal like `0.5`.
    #[must_use]
    pub fn from_f64(value: f64) -> Option<Self> {
        if !value.is_finite() {
            return None;
        }
        format!("{value}").parse().ok()
    }

    /// True when the number has no fractional part.
    #[must_use]
    pub fn is_integer(&self) -> bool {
        self.exponent >= 0
    }

    /// The value as `i64` when it is an integer in range.
    #[must_use]
    pub fn to_i64(&self) -> Option<i64> {
        if !self.is_integer() || self.digits.len() as i64 + self.exponent > 20 {
            return None;
        }
        let magnitude: i128 = self.integer_text()?.parse().ok()?;
        i64::try_from(if self.negative { -magnitude } else { magnitude }).ok()
    }

    /// The value as `u64` when it is a non-negative integer in range.
    #[must_use]
    pub fn to_u64(&self) -> Option<u64> {
        if self.negative || !self.is_integer() || self.digits.len() as i64 + self.exponent > 20 {
            return None;
        }
        self.integer_text()?.parse().ok()
    }

    /// The nearest `f64` (may round: use only where a float is what the caller wants).
    #[must_use]
    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    fn integer_text(&self) -> Option<String> {
        if self.digits.is_empty() {
            return Some("0".to_owned());
        }
        let zeros = usize::try_from(self.exponent).ok()?;
        Some(format!("{}{}", self.digits, "0".repeat(zeros)))
    }
}

impl Ord for Number {
    /// Exact numeric order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let sign = |n: &Number| {
            if n.digits.is_empty() {
                0
            } else if n.negative {
                -1
            } else {
                1
            }
        };
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal if sign(self) == 0 => Ordering::Equal,
            Ordering::Equal => {
                // Same sign: compare magnitudes by the position of the leading digit, then by
                // digits (normalised digit strings compare lexicographically at equal position).
                let lead = |n: &Number| n.digits.len() as i64 + n.exponent;
                let magnitude = lead(self)
                    .cmp(&lead(other))
                    .then_with(|| self.digits.cmp(&other.digits));
                if self.negative {
                    magnitude.reverse()
                } else {
                    magnitude
                }
            }
            unequal => unequal,
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Default for Number {
    fn default() -> Self {
        Self::zero()
    }
}

impl FromStr for Number {
    type Err = ParseNumberError;

    /// Parses `[-+]digits[.digits][(e|E)[-+]digits]`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseNumberError {
            text: text.to_owned(),
        };
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => {
                let exp: i64 = rest[at + 1..].parse().map_err(|_| error())?;
                (&rest[..at], exp)
            }
            None => (rest, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !all_digits(int_part)
            || !all_digits(frac_part)
        {
            return Err(error());
        }
        let digits = format!("{int_part}{frac_part}");
        let exponent = exponent
            .checked_sub(frac_part.len() as i64)
            .ok_or_else(error)?;
        // Bounding the exponent keeps every later length/exponent sum far from overflow.
        if exponent.unsigned_abs() > MAX_EXPONENT || digits.len() as u64 > MAX_EXPONENT {
            return Err(error());
        }
        Ok(Self::normalized(negative, &digits, exponent))
    }
}

impl fmt::Display for Number {
    /// Plain decimal notation (no exponent), the form go-cty's `Text('f', -1)` produces, for any
    /// number within 400 digits of the decimal point.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.digits.is_empty() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        // Far from 1 (beyond any real-world value) use an exponent rather than writing out
        // millions of zeros for hostile input such as "1e999999999"; both parsers accept it.
        let padding = self.exponent.saturating_add(self.digits.len() as i64);
        if !(-MAX_PLAIN_ZEROS..=MAX_PLAIN_ZEROS).contains(&padding) {
            return write!(f, "{}e{}", self.digits, self.exponent);
        }
        if self.exponent >= 0 {
            f.write_str(&self.digits)?;
            for _ in 0..self.exponent {
                f.write_str("0")?;
            }
            return Ok(());
        }
        let fraction_len = self.exponent.unsigned_abs() as usize;
        if fraction_len >= self.digits.len() {
            f.write_str("0.")?;
            for _ in 0..fraction_len - self.digits.len() {
                f.write_str("0")?;
            }
            f.write_str(&self.digits)
        } else {
            let (int_part, frac_part) = self.digits.split_at(self.digits.len() - fraction_len);
            write!(f, "{int_part}.{frac_part}")
        }
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Self {
        Self::normalized(value < 0, &value.unsigned_abs().to_string(), 0)
    }
}

impl From<u64> for Number {
    fn from(value: u64) -> Self {
        Self::normalized(false, &value.to_string(), 0)
    }
}

impl From<i32> for Number {
    fn from(value: i32) -> Self {
        Self::from(i64::from(value))
    }
}

impl From<u32> for Number {
    fn from(value: u32) -> Self {
        Self::from(u64::from(value))
    }
}

impl From<usize> for Number {
    fn from(value: usize) -> Self {
        Self::from(value as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Number {
        text.parse().unwrap()
    }

    #[test]
    fn normalises_equal_values() {
        assert_eq!(n("1.50"), n("1.5"));
        assert_eq!(n("1e3"), n("1000"));
        assert_eq!(n("-0"), Number::zero());
        assert_eq!(n("0.000"), Number::zero());
        assert_eq!(n("+12"), Number::from(12i64));
    }

    #[test]
    fn displays_plain_decimal() {
        assert_eq!(n("1.5e-3").to_string(), "0.0015");
        assert_eq!(n("-12.25").to_string(), "-12.25");
        assert_eq!(n("2e2").to_string(), "200");
        assert_eq!(
            n("123456789012345678901234567890.000000000000000000001").to_string(),
            "123456789012345678901234567890.000000000000000000001"
        );
    }

    #[test]
    fn integer_conversions_check_range() {
        assert_eq!(n("9223372036854775807").to_i64(), Some(i64::MAX));
        assert_eq!(n("-9223372036854775808").to_i64(), Some(i64::MIN));
        assert_eq!(n("9223372036854775808").to_i64(), None);
        assert_eq!(n("18446744073709551615").to_u64(), Some(u64::MAX));
        assert_eq!(n("1.5").to_i64(), None);
        assert_eq!(n("-1").to_u64(), None);
        assert_eq!(n("1e40").to_u64(), None);
    }

    #[test]
    fn floats_use_shortest_decimal() {
        assert_eq!(Number::from_f64(0.1), Some(n("0.1")));
        assert_eq!(Number::from_f64(f64::NAN), None);
        assert_eq!(n("0.25").to_f64(), 0.25);
    }

    #[test]
    fn orders_exactly() {
        let sorted = [
            "-100",
            "-1.5",
            "-1.25",
            "0",
            "0.001",
            "0.01",
            "1",
            "1.0000000000000000001",
            "9",
            "10",
            "1e30",
        ];
        for pair in sorted.windows(2) {
            assert!(n(pair[0]) < n(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(n("2.50").cmp(&n("2.5")), std::cmp::Ordering::Equal);
    }

    #[test]
    fn huge_exponents_stay_short() {
        let big = n("1e999999999");
        assert_eq!(big.to_string(), "1e999999999");
        assert_eq!(big.to_string().parse::<Number>().unwrap(), big);
        assert_eq!(n("-15e-999999").to_string(), "-15e-999999");
        assert_eq!(big.to_i64(), None);
    }

    #[test]
    fn rejects_garbage() {
        let overflowing = ["10e9223372036854775807", "1e-9223372036854775808"];
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "0x10", "1 "]
            .into_iter()
            .chain(overflowing)
        {
            assert!(bad.parse::<Number>().is_err(), "{bad:?}");
        }
    }
}
