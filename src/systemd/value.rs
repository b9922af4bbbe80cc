//! Property values as `systemctl show` prints them, and limits written back as in a unit file.

/// A number property, `None` for `[not set]`, `infinity`, empty, or the all-ones "unset" value
/// older systemd versions print.
pub fn number(v: Option<&str>) -> Option<u64> {
    let n: u64 = v?.trim().parse().ok()?;
    (n != u64::MAX).then_some(n)
}

/// A time span such as `200ms`, `1.500000s`, `2min 8s` or `750us`, in microseconds.
/// `None` for `infinity`, `[not set]` or anything else that is not a span.
pub fn timespan_usec(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let mut total = 0f64;
    for word in v.split_whitespace() {
        let split = word
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(word.len());
        let (num, unit) = word.split_at(split);
        let num: f64 = num.parse().ok()?;
        let scale = match unit {
            "us" | "usec" | "µs" => 1.0,
            "ms" | "msec" => 1e3,
            "" | "s" | "sec" => 1e6,
            "min" | "m" => 60e6,
            "h" | "hr" => 3600e6,
            "d" => 86400e6,
            "w" => 7.0 * 86400e6,
            "M" => 30.44 * 86400e6,
            "y" => 365.25 * 86400e6,
            _ => return None,
        };
        total += num * scale;
    }
    Some(total.round() as u64)
}

/// `CPUQuotaPerSecUSec` as `CPUQuota=` is written: `200ms` → `20%`; `None` when unlimited.
pub fn cpu_quota(per_sec: Option<&str>) -> Option<String> {
    let usec = timespan_usec(per_sec?)?;
    // 1 s of CPU time per second is 100%; keep at most two decimals, as systemd does.
    let hundredths = (usec as f64 / 100.0).round() as u64;
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    Some(match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    })
}

/// `MemoryHigh` bytes as a unit file writes them: the largest binary suffix that divides
/// exactly (`40M`, `1G`, `512K`), else plain bytes; `None` when unlimited.
pub fn memory_size(bytes: Option<&str>) -> Option<String> {
    let n = number(bytes)?;
    if n == 0 {
        return Some("0".to_string());
    }
    for (suffix, shift) in [
        ("E", 60),
        ("P", 50),
        ("T", 40),
        ("G", 30),
        ("M", 20),
        ("K", 10),
    ] {
        let unit = 1u64 << shift;
        if n % unit == 0 {
            return Some(format!("{}{suffix}", n / unit));
        }
    }
    Some(n.to_string())
}

/// Average CPU use, as % of one CPU with one decimal, over `elapsed_ns`.
pub fn cpu_percent(used_ns: u64, elapsed_ns: u64) -> Option<String> {
    (elapsed_ns > 0).then(|| format!("{:.1}%", used_ns as f64 * 100.0 / elapsed_ns as f64))
}

/// Memory in whole MB (MiB, rounded down), as the previous agent showed it.
pub fn megabytes(bytes: u64) -> String {
    format!("{} MB", bytes / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_unset() {
        assert_eq!(number(Some("13848576")), Some(13_848_576));
        assert_eq!(number(Some("[not set]")), None);
        assert_eq!(number(Some("infinity")), None);
        assert_eq!(number(Some("18446744073709551615")), None);
        assert_eq!(number(Some("")), None);
        assert_eq!(number(None), None);
    }

    #[test]
    fn timespans() {
        assert_eq!(timespan_usec("200ms"), Some(200_000));
        assert_eq!(timespan_usec("1s"), Some(1_000_000));
        assert_eq!(timespan_usec("1.500000s"), Some(1_500_000));
        assert_eq!(timespan_usec("12.500ms"), Some(12_500));
        assert_eq!(timespan_usec("2min 8s"), Some(128_000_000));
        assert_eq!(timespan_usec("750us"), Some(750));
        assert_eq!(timespan_usec("infinity"), None);
        assert_eq!(timespan_usec("[not set]"), None);
        assert_eq!(timespan_usec(""), None);
    }

    #[test]
    fn cpu_quota_as_in_a_unit_file() {
        assert_eq!(cpu_quota(Some("200ms")).as_deref(), Some("20%"));
        assert_eq!(cpu_quota(Some("1s")).as_deref(), Some("100%"));
        assert_eq!(cpu_quota(Some("1.500000s")).as_deref(), Some("150%"));
        assert_eq!(cpu_quota(Some("15ms")).as_deref(), Some("1.5%"));
        assert_eq!(cpu_quota(Some("12.300ms")).as_deref(), Some("1.23%"));
        assert_eq!(cpu_quota(Some("2min 8s")).as_deref(), Some("12800%"));
        assert_eq!(cpu_quota(Some("infinity")), None);
        assert_eq!(cpu_quota(None), None);
    }

    #[test]
    fn memory_as_in_a_unit_file() {
        assert_eq!(memory_size(Some("41943040")).as_deref(), Some("40M"));
        assert_eq!(memory_size(Some("1073741824")).as_deref(), Some("1G"));
        assert_eq!(memory_size(Some("524288")).as_deref(), Some("512K"));
        assert_eq!(memory_size(Some("1536")).as_deref(), Some("1536"));
        assert_eq!(memory_size(Some("1000")).as_deref(), Some("1000"));
        assert_eq!(memory_size(Some("infinity")), None);
        assert_eq!(memory_size(Some("[not set]")), None);
    }

    #[test]
    fn current_figures() {
        assert_eq!(
            cpu_percent(3_000_000, 1_000_000_000).as_deref(),
            Some("0.3%")
        );
        assert_eq!(
            cpu_percent(2_500_000_000, 1_000_000_000).as_deref(),
            Some("250.0%")
        );
        assert_eq!(cpu_percent(1, 0), None);
        assert_eq!(megabytes(13 * 1024 * 1024 + 5), "13 MB");
        assert_eq!(megabytes(1024), "0 MB");
    }
}
