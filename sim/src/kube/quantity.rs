//! Kubernetes resource quantities (`10Gi`, `500M`, `250m`, `1.5`, `1e3`) as numbers, for the
//! stand-ins that size volumes from claims and report usage against allocatable resources.

/// The value of a quantity (`1Gi` → 1073741824, `250m` → 0.25), `None` when it does not parse.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_decimal_and_milli_suffixes() {
        assert_eq!(parse("10Gi"), Some(10.0 * 1024f64.powi(3)));
        assert_eq!(parse("1G"), Some(1e9));
        assert_eq!(parse("250m"), Some(0.25));
        assert_eq!(parse("1.5Ki"), Some(1536.0));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("10GB"), None);
        assert_eq!(parse("-1Gi"), None);
    }
}
