//! Human sizes: `4096`, `4k`, `256KiB`, `1GiB`, `1.5G` parse to bytes; bytes print as `256 KiB`.
//!
//! Units are binary, like fio's default: `k`, `K`, `KB` and `KiB` all mean 1024. A bare number
//! is bytes (or a plain count, for `--reads`).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A number of bytes (or of items) written the human way. `Display` gives the shortest exact form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

impl Size {
    /// The value in bytes (or items).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for Size {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        parse_size(s).map(Size)
    }
}

impl fmt::Display for Size {
    /// The compact form (`256KiB`), as one types it on a command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&compact_size(self.0))
    }
}

/// A count that may be written with a binary suffix: `64k` is 65536. `Display` gives the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Count(pub u64);

impl Count {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for Count {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        parse_size(s).map(Count)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl serde::Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

const UNITS: [(&str, u32); 7] = [("", 0), ("K", 10), ("M", 20), ("G", 30), ("T", 40), ("P", 50), ("E", 60)];

/// Parses `4096`, `4k`, `4K`, `4KB`, `4KiB`, `1.5GiB`, `2 MiB` (binary units, case-insensitive,
/// an optional `B`). The result must be a whole number of bytes.
///
/// ```
/// use lsio_cli::size::parse_size;
/// assert_eq!(parse_size("256KiB").unwrap(), 256 * 1024);
/// assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
/// assert!(parse_size("12 parsecs").is_err());
/// ```
pub fn parse_size(input: &str) -> Result<u64> {
    let err = |reason: &str| Error::InvalidSize { input: input.to_owned(), reason: reason.to_owned() };
    let s = input.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(err("expected a number, like 4096, 256KiB or 1GiB"));
    }
    let unit = unit.trim();
    let upper = unit.to_ascii_uppercase();
    let prefix = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B')).unwrap_or(&upper);
    let Some(&(_, shift)) = UNITS.iter().find(|(u, _)| *u == prefix) else {
        return Err(err("unknown unit (use B, KiB, MiB, GiB, TiB; k, M, G also work)"));
    };
    if prefix.is_empty() && !(upper.is_empty() || upper == "B") {
        return Err(err("unknown unit (use B, KiB, MiB, GiB, TiB; k, M, G also work)"));
    }
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return Err(err("expected a number, like 4096, 256KiB or 1GiB"));
    }
    let too_big = || err("too large");
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_big())? };
    let mut bytes = whole.checked_mul(1u64 << shift).ok_or_else(too_big)?;
    if !frac.is_empty() {
        // Exact: frac_digits / 10^len × 2^shift must be a whole number.
        if frac.len() > 18 {
            return Err(err("too many decimals"));
        }
        let digits: u128 = frac.parse().map_err(|_| err("expected a number, like 4096, 256KiB or 1GiB"))?;
        let scale = 10u128.pow(frac.len() as u32);
        let num = digits << shift;
        if !num.is_multiple_of(scale) {
            return Err(err("not a whole number of bytes"));
        }
        let extra = u64::try_from(num / scale).map_err(|_| too_big())?;
        bytes = bytes.checked_add(extra).ok_or_else(too_big)?;
    }
    Ok(bytes)
}

/// The shortest exact human form: `4 KiB`, `1.5 GiB`, `1000 B`, `12345 B`.
///
/// ```
/// use lsio_cli::size::format_size;
/// assert_eq!(format_size(256 << 10), "256 KiB");
/// assert_eq!(format_size(3 << 29), "1.5 GiB");
/// assert_eq!(format_size(1000), "1000 B");
/// ```
pub fn format_size(bytes: u64) -> String {
    for &(unit, shift) in UNITS.iter().rev() {
        if shift == 0 || bytes < (1u64 << shift) {
            continue;
        }
        let whole = bytes >> shift;
        let rest = bytes & ((1u64 << shift) - 1);
        if rest == 0 {
            return format!("{whole} {unit}iB");
        }
        // One or two decimals when exact (0.5, 0.25, 0.75).
        for decimals in 1..=2u32 {
            let scale = 10u128.pow(decimals);
            let scaled = (rest as u128) * scale;
            if scaled.is_multiple_of(1u128 << shift) {
                let frac = scaled >> shift;
                return format!("{whole}.{frac:0width$} {unit}iB", width = decimals as usize);
            }
        }
    }
    format!("{bytes} B")
}

/// Like [`format_size`] without the space, for file names: `1GiB`, `256KiB`.
pub fn compact_size(bytes: u64) -> String {
    format_size(bytes).replace(' ', "")
}

/// An approximate human form for throughput-style numbers: `1.23 GiB`, `512.0 MiB`.
pub fn approx_size(bytes: f64) -> String {
    let mut v = bytes;
    for unit in ["B", "KiB", "MiB", "GiB", "TiB"] {
        if v < 1024.0 || unit == "TiB" {
            return if unit == "B" { format!("{v:.0} B") } else { format!("{v:.1} {unit}") };
        }
        v /= 1024.0;
    }
    format!("{bytes:.0} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("4KB").unwrap(), 4096);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("4kib").unwrap(), 4096);
        assert_eq!(parse_size("256KiB").unwrap(), 256 << 10);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("2 MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size(" 7b ").unwrap(), 7);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("0.5k").unwrap(), 512);
        assert_eq!(parse_size(".5k").unwrap(), 512);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("15E").unwrap(), 15 << 60);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "k",
            "GiB",
            "1.2.3",
            "1.",
            "-4k",
            "4 parsecs",
            "1.3",
            "0.1k",
            "16E",
            "99999999999999999999",
            "4i",
            "4Ki",
            "4iB",
        ] {
            let e = parse_size(bad);
            if bad == "1." {
                // "1." is 1 byte: allowed.
                assert_eq!(e.unwrap(), 1);
                continue;
            }
            let e = e.expect_err(bad);
            assert!(e.is_usage(), "{bad}: {e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn formats_round_trip() {
        for b in [0, 1, 1000, 4096, 256 << 10, 1 << 30, 3 << 29, 1536, 5 << 28, 12345] {
            let s = format_size(b);
            assert_eq!(parse_size(&s).unwrap(), b, "{s}");
        }
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(5 << 28), "1.25 GiB");
        assert_eq!(compact_size(256 << 10), "256KiB");
        assert_eq!(Size(1 << 30).to_string(), "1GiB");
        assert_eq!("64k".parse::<Count>().unwrap(), Count(65536));
        assert_eq!(Count(1000).to_string(), "1000");
        assert_eq!(approx_size(1.5 * (1u64 << 30) as f64), "1.5 GiB");
        assert_eq!(approx_size(100.0), "100 B");
    }
}
