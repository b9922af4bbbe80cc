//! Values of scalar tokens: string escapes, integers (decimal, hex, `L` suffix), floats,
//! booleans, and the string literal written back when a value changes.

/// A scalar as libconfig reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    /// A 32-bit setting in libconfig (decimal in range, or hex without `L`).
    Int(i64),
    /// A 64-bit setting (`L` suffix, or a decimal too large for 32 bits).
    Int64(i64),
    Float(f64),
    /// Bytes after escapes, adjacent literals joined. libconfig strings are byte strings.
    Str(Vec<u8>),
}

impl Scalar {
    /// Strings as text, when they are valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// Array elements must all be of one kind.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Scalar::Bool(_) => "boolean",
            Scalar::Int(_) => "integer",
            Scalar::Int64(_) => "64-bit integer",
            Scalar::Float(_) => "float",
            Scalar::Str(_) => "string",
        }
    }
}

/// `\xHH` at the start of `s`: its value.
pub fn hex_escape(s: &[u8]) -> Option<u8> {
    if s.len() >= 4 && s[0] == b'\\' && (s[1] == b'x' || s[1] == b'X') {
        let h = std::str::from_utf8(&s[2..4]).ok()?;
        if h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return u8::from_str_radix(h, 16).ok();
        }
    }
    None
}

/// Appends the value of one `"..."` literal (quotes included in `lit`) to `out`. The lexer has
/// already checked the literal, so this cannot fail.
pub fn decode_string(lit: &[u8], out: &mut Vec<u8>) {
    let body = &lit[1..lit.len() - 1];
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let simple = match body.get(i + 1) {
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            Some(b'f') => Some(b'\x0c'),
            Some(b'\\') => Some(b'\\'),
            Some(b'"') => Some(b'"'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
        } else if let Some(c) = hex_escape(&body[i..]) {
            out.push(c);
            i += 4;
        } else {
            // An unknown escape keeps its backslash, as in libconfig.
            out.push(b'\\');
            i += 1;
        }
    }
}

/// A string literal that libconfig reads back as `value`.
pub fn encode_string(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    out.push(b'"');
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
    out
}

/// A decimal integer token (`[-+]?[0-9]+`, optional `L`/`LL`).
pub fn parse_integer(text: &str, long: bool) -> Result<Scalar, String> {
    let digits = text.trim_end_matches('L');
    let v: i64 = digits
        .parse()
        .map_err(|_| format!("integer {text} is out of range"))?;
    if long || i32::try_from(v).is_err() {
        Ok(Scalar::Int64(v))
    } else {
        Ok(Scalar::Int(v))
    }
}

/// A hex token (`0x...`, optional `L`/`LL`): 32 bits without the suffix, 64 with it.
pub fn parse_hex(text: &str, long: bool) -> Result<Scalar, String> {
    let digits = text[2..].trim_end_matches('L');
    let v = u64::from_str_radix(digits, 16).map_err(|_| format!("hex {text} is out of range"))?;
    if long {
        // libconfig stores the bits as a signed 64-bit value.
        Ok(Scalar::Int64(v as i64))
    } else {
        let v = u32::try_from(v).map_err(|_| {
            format!("hex {text} does not fit in 32 bits (write {text}L for a 64-bit value)")
        })?;
        Ok(Scalar::Int(i64::from(v as i32)))
    }
}

pub fn parse_float(text: &str) -> Result<Scalar, String> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(p) => (&text[..p], &text[p..]),
        None => (text, ""),
    };
    if !mantissa.bytes().any(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a number"));
    }
    // Rust's parser wants digits on both sides of the point; libconfig does not.
    let mut norm = mantissa.to_string();
    if norm.ends_with('.') {
        norm.push('0');
    }
    if let Some(p) = norm.find('.') {
        if !norm[..p].bytes().any(|b| b.is_ascii_digit()) {
            norm.insert(p, '0');
        }
    }
    norm.push_str(exp);
    norm.parse::<f64>()
        .map(Scalar::Float)
        .map_err(|_| format!("{text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(lit: &str) -> Vec<u8> {
        let mut out = Vec::new();
        decode_string(lit.as_bytes(), &mut out);
        out
    }

    #[test]
    fn escapes_decode_like_libconfig() {
        assert_eq!(dec(r#""a\nb\tc\rd\fe""#), b"a\nb\tc\rd\x0ce");
        assert_eq!(dec(r#""q\"\\z""#), b"q\"\\z");
        assert_eq!(dec(r#""\x41\X62""#), b"Ab");
        assert_eq!(dec(r#""grep 'a\|b' \q \x4g""#), b"grep 'a\\|b' \\q \\x4g");
    }

    #[test]
    fn encode_round_trips() {
        for v in [&b"on"[..], b"a\"b\\c\nd\x01\x7f", b"", "\u{e9}".as_bytes()] {
            let lit = encode_string(v);
            assert_eq!(dec(std::str::from_utf8(&lit).unwrap()), v);
        }
        assert_eq!(encode_string(b"off"), b"\"off\"");
    }

    #[test]
    fn integers() {
        assert_eq!(parse_integer("-42", false), Ok(Scalar::Int(-42)));
        assert_eq!(parse_integer("42L", true), Ok(Scalar::Int64(42)));
        assert_eq!(
            parse_integer("5000000000", false),
            Ok(Scalar::Int64(5_000_000_000))
        );
        assert!(parse_integer("99999999999999999999", false).is_err());
        assert_eq!(parse_hex("0xFF", false), Ok(Scalar::Int(255)));
        assert_eq!(parse_hex("0xFFFFFFFF", false), Ok(Scalar::Int(-1)));
        assert!(parse_hex("0x1FFFFFFFF", false).is_err());
        assert_eq!(
            parse_hex("0x1FFFFFFFFLL", true),
            Ok(Scalar::Int64(0x1_FFFF_FFFF))
        );
        assert!(parse_hex("0x1FFFFFFFFFFFFFFFFL", true).is_err());
    }

    #[test]
    fn floats() {
        assert_eq!(parse_float("1."), Ok(Scalar::Float(1.0)));
        assert_eq!(parse_float("-.5"), Ok(Scalar::Float(-0.5)));
        assert_eq!(parse_float("1.e3"), Ok(Scalar::Float(1000.0)));
        assert_eq!(parse_float("+2E-1"), Ok(Scalar::Float(0.2)));
        assert!(parse_float(".").is_err());
        assert!(parse_float("-.e5").is_err());
    }
}
