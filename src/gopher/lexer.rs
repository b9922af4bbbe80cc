//! Tokens of the libconfig grammar, each with the byte span it came from.
//!
//! The rules follow libconfig's own scanner (longest match, then rule order), so a file reads
//! the same here as in gala-gopher. Whitespace and comments are skipped: the document keeps the
//! original bytes, so nothing between tokens has to be remembered to print it back.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Name,
    /// `=` or `:`.
    Equals,
    Semicolon,
    Comma,
    GroupStart,
    GroupEnd,
    ArrayStart,
    ArrayEnd,
    ListStart,
    ListEnd,
    /// One `"..."` literal; adjacent literals are joined by the parser.
    String,
    Integer,
    Integer64,
    Hex,
    Hex64,
    Float,
    Bool,
    /// `@include "file"` at the start of a line (the directive up to its closing quote).
    Include,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub span: Range<usize>,
}

/// Why a file is not valid libconfig, and where (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub col: usize,
    pub reason: String,
}

impl SyntaxError {
    pub fn at(src: &[u8], offset: usize, reason: impl Into<String>) -> SyntaxError {
        let (line, col) = position(src, offset);
        SyntaxError {
            line,
            col,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.reason)
    }
}

/// Line and column of a byte offset; columns count UTF-8 characters, not bytes.
pub fn position(src: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = before[start..]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count()
        + 1;
    (line, col)
}

pub fn tokenize(src: &[u8]) -> Result<Vec<Token>, SyntaxError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        let single = match b {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = line_end(src, i);
                continue;
            }
            b'/' if src.get(i + 1) == Some(&b'/') => {
                i = line_end(src, i);
                continue;
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                i = block_comment_end(src, i)?;
                continue;
            }
            b'"' => {
                let end = string_end(src, i)?;
                out.push(Token {
                    kind: Kind::String,
                    span: i..end,
                });
                i = end;
                continue;
            }
            b'@' => {
                let end = include_end(src, i)?;
                out.push(Token {
                    kind: Kind::Include,
                    span: i..end,
                });
                i = end;
                continue;
            }
            b'=' | b':' => Some(Kind::Equals),
            b';' => Some(Kind::Semicolon),
            b',' => Some(Kind::Comma),
            b'{' => Some(Kind::GroupStart),
            b'}' => Some(Kind::GroupEnd),
            b'[' => Some(Kind::ArrayStart),
            b']' => Some(Kind::ArrayEnd),
            b'(' => Some(Kind::ListStart),
            b')' => Some(Kind::ListEnd),
            _ => None,
        };
        if let Some(kind) = single {
            out.push(Token {
                kind,
                span: i..i + 1,
            });
            i += 1;
            continue;
        }
        match word(&src[i..]) {
            Some((kind, len)) => {
                out.push(Token {
                    kind,
                    span: i..i + len,
                });
                i += len;
            }
            None => return Err(SyntaxError::at(src, i, unexpected(src, i))),
        }
    }
    Ok(out)
}

fn unexpected(src: &[u8], i: usize) -> String {
    let b = src[i];
    if b.is_ascii_graphic() {
        format!("unexpected character '{}'", b as char)
    } else {
        format!("unexpected byte 0x{b:02x}")
    }
}

/// A comment runs to the end of its line; the newline is not part of it.
fn line_end(src: &[u8], i: usize) -> usize {
    src[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(src.len(), |p| i + p)
}

fn block_comment_end(src: &[u8], start: usize) -> Result<usize, SyntaxError> {
    // libconfig silently swallows the rest of a file after an unclosed comment; refusing it
    // keeps a truncated file from being taken for a shorter valid one.
    src[start + 2..]
        .windows(2)
        .position(|w| w == b"*/")
        .map(|p| start + 2 + p + 2)
        .ok_or_else(|| SyntaxError::at(src, start, "unterminated comment"))
}

/// End (exclusive) of the string literal opening at `start`. Escapes are checked here so a
/// bad one is reported where it is; decoding is in `scalar`.
fn string_end(src: &[u8], start: usize) -> Result<usize, SyntaxError> {
    let mut i = start + 1;
    while i < src.len() {
        match src[i] {
            b'"' => return Ok(i + 1),
            b'\\' => {
                if src.get(i + 1) == Some(&b'\\') || src.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                if let Some(v) = super::scalar::hex_escape(&src[i..]) {
                    if v == 0 {
                        // libconfig's strings are C strings: a NUL would cut the value short.
                        return Err(SyntaxError::at(
                            src,
                            i,
                            "escape \\x00 is not allowed in a string",
                        ));
                    }
                    i += 4;
                    continue;
                }
                // Any other backslash stands for itself, as in libconfig (`grep 'a\|b'`).
                i += 1;
            }
            0 => return Err(SyntaxError::at(src, i, "NUL byte in a string")),
            _ => i += 1,
        }
    }
    Err(SyntaxError::at(src, start, "unterminated string"))
}

/// `@include "path"`: only at the start of a line (after blanks), as libconfig's scanner wants.
fn include_end(src: &[u8], at: usize) -> Result<usize, SyntaxError> {
    let line_start = src[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let blank_before = src[line_start..at].iter().all(|&b| b == b' ' || b == b'\t');
    let rest = &src[at..];
    let bad = || SyntaxError::at(src, at, "'@' must start an @include \"file\" directive");
    if !blank_before || !rest.starts_with(b"@include") {
        return Err(bad());
    }
    let mut i = at + "@include".len();
    let blanks = src[i..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    if blanks == 0 || src.get(i + blanks) != Some(&b'"') {
        return Err(bad());
    }
    i += blanks + 1;
    while i < src.len() {
        match src[i] {
            b'"' => return Ok(i + 1),
            b'\\' if matches!(src.get(i + 1), Some(b'\\') | Some(b'"')) => i += 2,
            _ => i += 1,
        }
    }
    Err(SyntaxError::at(src, at, "unterminated @include path"))
}

/// Names, booleans and numbers: the longest match wins, ties go to the earlier rule
/// (booleans, then names, floats, integers, 64-bit integers, hex, 64-bit hex).
fn word(s: &[u8]) -> Option<(Kind, usize)> {
    let candidates = [
        (Kind::Bool, boolean(s)),
        (Kind::Name, name(s)),
        (Kind::Float, float(s)),
        (Kind::Integer, integer(s)),
        (Kind::Integer64, long_suffix(s, integer(s))),
        (Kind::Hex, hex(s)),
        (Kind::Hex64, long_suffix(s, hex(s))),
    ];
    let mut best: Option<(Kind, usize)> = None;
    for (kind, len) in candidates {
        if len > 0 && best.map_or(true, |(_, l)| len > l) {
            best = Some((kind, len));
        }
    }
    best
}

fn boolean(s: &[u8]) -> usize {
    for w in [&b"true"[..], &b"false"[..]] {
        if s.len() >= w.len() && s[..w.len()].eq_ignore_ascii_case(w) {
            return w.len();
        }
    }
    0
}

fn name(s: &[u8]) -> usize {
    match s.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'*' => {
            1 + s[1..]
                .iter()
                .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*'))
                .count()
        }
        _ => 0,
    }
}

fn digits(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

fn sign(s: &[u8]) -> usize {
    usize::from(matches!(s.first(), Some(b'-') | Some(b'+')))
}

/// `[-+]?[0-9]+`
fn integer(s: &[u8]) -> usize {
    let sg = sign(s);
    match digits(&s[sg..]) {
        0 => 0,
        d => sg + d,
    }
}

/// `0[Xx][0-9A-Fa-f]+`
fn hex(s: &[u8]) -> usize {
    if s.len() > 2 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X') {
        match s[2..].iter().take_while(|b| b.is_ascii_hexdigit()).count() {
            0 => 0,
            d => 2 + d,
        }
    } else {
        0
    }
}

/// The `L` or `LL` that makes an integer 64-bit.
fn long_suffix(s: &[u8], len: usize) -> usize {
    if len == 0 || s.get(len) != Some(&b'L') {
        return 0;
    }
    if s.get(len + 1) == Some(&b'L') {
        len + 2
    } else {
        len + 1
    }
}

/// `[-+]?[0-9]*\.[0-9]*([eE][-+]?[0-9]+)?` or `[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+`
fn float(s: &[u8]) -> usize {
    let sg = sign(s);
    let int = digits(&s[sg..]);
    let mut i = sg + int;
    let mut dot = false;
    if s.get(i) == Some(&b'.') {
        dot = true;
        i += 1;
        i += digits(&s[i..]);
    }
    let exp = exponent(&s[i..]);
    // Without a point, a float needs digits and an exponent (`1e5`).
    if dot || (int > 0 && exp > 0) {
        i + exp
    } else {
        0
    }
}

/// `[eE][-+]?[0-9]+`
fn exponent(s: &[u8]) -> usize {
    if !matches!(s.first(), Some(b'e') | Some(b'E')) {
        return 0;
    }
    let sg = sign(&s[1..]);
    match digits(&s[1 + sg..]) {
        0 => 0,
        d => 1 + sg + d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        tokenize(src.as_bytes())
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, src[t.span].to_string()))
            .collect()
    }

    #[test]
    fn longest_match_then_rule_order() {
        use Kind::*;
        assert_eq!(
            kinds("a:true TRUE1 0x1FL 12LL -3 1e5 .5 1. 0X1f x-y*"),
            vec![
                (Name, "a".into()),
                (Equals, ":".into()),
                (Bool, "true".into()),
                (Name, "TRUE1".into()),
                (Hex64, "0x1FL".into()),
                (Integer64, "12LL".into()),
                (Integer, "-3".into()),
                (Float, "1e5".into()),
                (Float, ".5".into()),
                (Float, "1.".into()),
                (Hex, "0X1f".into()),
                (Name, "x-y*".into()),
            ]
        );
    }

    #[test]
    fn comments_and_whitespace_are_skipped() {
        let k = kinds("# one\n// two\n/* three\n */ a = 1; // four");
        assert_eq!(k.len(), 4);
        assert_eq!(k[0], (Kind::Name, "a".into()));
    }

    #[test]
    fn strings_keep_unknown_escapes_and_reject_nul() {
        let k = kinds(r#"s = "a\|b\"c\\" "d";"#);
        assert_eq!(k[2], (Kind::String, r#""a\|b\"c\\""#.into()));
        assert_eq!(k[3], (Kind::String, r#""d""#.into()));
        let e = tokenize(br#"s = "a\x00";"#).unwrap_err();
        assert_eq!((e.line, e.col), (1, 7));
        assert!(e.reason.contains("x00"));
        let e = tokenize(b"s = \"a\0b\";").unwrap_err();
        assert_eq!(e.to_string(), "1:7: NUL byte in a string");
    }

    #[test]
    fn errors_name_the_position() {
        let e = tokenize(b"a = 1;\n  b = \"open").unwrap_err();
        assert_eq!(e.to_string(), "2:7: unterminated string");
        let e = tokenize(b"a = 1; /* never closed").unwrap_err();
        assert_eq!(e.to_string(), "1:8: unterminated comment");
        let e = tokenize("é = $".as_bytes()).unwrap_err();
        assert_eq!((e.line, e.col), (1, 1));
        let e = tokenize(b"a = \x01").unwrap_err();
        assert_eq!(e.to_string(), "1:5: unexpected byte 0x01");
    }

    #[test]
    fn include_only_at_line_start() {
        let k = kinds("  @include \"x.cfg\" # c\na = 1;");
        assert_eq!(k[0], (Kind::Include, "@include \"x.cfg\"".into()));
        assert!(tokenize(b"a = 1; @include \"x\"").is_err());
        assert!(tokenize(b"@includex \"x\"").is_err());
        assert!(tokenize(b"@include \"x").is_err());
    }
}
