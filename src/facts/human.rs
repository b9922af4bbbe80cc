//! Sizes written the way util-linux writes them (`size_to_human_string`), so our strings equal
//! what `lscpu` and `lsmem` print.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    /// `lsmem`: `24G`, `2.5G`, `512M`, `0B`.
    Letter,
    /// `lscpu` caches: `64 KiB`, `1.5 MiB`, `32 MiB`.
    SpacedIec,
}

/// The power-of-1024 exponent (0, 10, 20, ...) of the largest unit not above `n`.
fn exponent(n: u64) -> u32 {
    let mut shift = 10;
    while shift <= 60 {
        if n < (1u64 << shift) {
            break;
        }
        shift += 10;
    }
    shift - 10
}

pub fn size(bytes: u64, style: Style) -> String {
    const LETTERS: &[u8] = b"BKMGTPE";
    let exp = exponent(bytes);
    let unit = LETTERS[(exp / 10) as usize] as char;
    let mut suffix = String::new();
    if style == Style::SpacedIec {
        suffix.push(' ');
    }
    suffix.push(unit);
    if style == Style::SpacedIec && unit != 'B' {
        suffix.push_str("iB");
    }
    let (mut whole, mut frac) = if exp == 0 {
        (bytes, 0)
    } else {
        (bytes >> exp, bytes & ((1u64 << exp) - 1))
    };
    if frac != 0 {
        // Three digits after the point, then rounded to one, exactly as util-linux does.
        frac = if frac >= u64::MAX / 1000 {
            ((frac / 1024) * 1000) / (1u64 << (exp - 10))
        } else {
            (frac * 1000) / (1u64 << exp)
        };
        frac = (frac + 50) / 100 * 10;
        if frac == 100 {
            whole += 1;
            frac = 0;
        }
    }
    if frac != 0 {
        let mut digits = format!("{frac:02}");
        if digits.ends_with('0') {
            digits.pop();
        }
        format!("{whole}.{digits}{suffix}")
    } else {
        format!("{whole}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsmem_style() {
        assert_eq!(size(24 << 30, Style::Letter), "24G");
        assert_eq!(size(5 << 29, Style::Letter), "2.5G");
        assert_eq!(size(512 << 20, Style::Letter), "512M");
        assert_eq!(size(0, Style::Letter), "0B");
        assert_eq!(size(1023, Style::Letter), "1023B");
        // 2.25G rounds half up to one digit.
        assert_eq!(size(9 << 28, Style::Letter), "2.3G");
        // 1023.96M rounds up into the next whole number of the same unit.
        assert_eq!(size((1u64 << 30) - (40 << 10), Style::Letter), "1024M");
    }

    #[test]
    fn lscpu_style() {
        assert_eq!(size(64 << 10, Style::SpacedIec), "64 KiB");
        assert_eq!(size(1 << 20, Style::SpacedIec), "1 MiB");
        assert_eq!(size(3 << 19, Style::SpacedIec), "1.5 MiB");
        assert_eq!(size(480 << 20, Style::SpacedIec), "480 MiB");
        assert_eq!(size(8 << 20, Style::SpacedIec), "8 MiB");
        assert_eq!(size(512, Style::SpacedIec), "512 B");
        assert_eq!(size(1 << 40, Style::SpacedIec), "1 TiB");
    }
}
