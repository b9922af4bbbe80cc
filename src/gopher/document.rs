//! A libconfig file as its original bytes plus a tree of spans over them.
//!
//! Printing is the original bytes, so comments, spacing and ordering survive by construction.
//! A change replaces the bytes of one value and parses the result again, so spans never go
//! stale and an edit can never produce a document that does not parse.

use std::collections::HashSet;
use std::ops::Range;

use super::lexer::{self, Kind, SyntaxError, Token};
use super::scalar::{self, Scalar};

/// Deeper nesting than any real configuration; bounds recursion on hostile input.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    src: Vec<u8>,
    root: Group,
}

/// The settings of the file or of one `{}` group, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Setting(Setting),
    /// An `@include` line, kept as written and not followed.
    Include(Range<usize>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub name: String,
    pub name_span: Range<usize>,
    pub value: Node,
}

/// A value and the bytes it was written as (all literals of a joined string).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Group(Group),
    List(Vec<Node>),
    Array(Vec<Node>),
}

impl Group {
    pub fn settings(&self) -> impl Iterator<Item = &Setting> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Setting(s) => Some(s),
            Entry::Include(_) => None,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Node> {
        self.settings().find(|s| s.name == name).map(|s| &s.value)
    }
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

impl Document {
    pub fn parse(src: Vec<u8>) -> Result<Document, SyntaxError> {
        let tokens = lexer::tokenize(&src)?;
        let root = Parser {
            src: &src,
            tokens: &tokens,
            pos: 0,
            depth: 0,
        }
        .file()?;
        Ok(Document { src, root })
    }

    /// The document as text: exactly the bytes it was parsed from (plus any edits).
    pub fn as_bytes(&self) -> &[u8] {
        &self.src
    }

    pub fn root(&self) -> &Group {
        &self.root
    }

    /// A new document with each span replaced by its bytes. Spans must not overlap.
    pub fn with_replacements(
        &self,
        edits: &[(Range<usize>, Vec<u8>)],
    ) -> Result<Document, SyntaxError> {
        let mut edits: Vec<&(Range<usize>, Vec<u8>)> = edits.iter().collect();
        edits.sort_by_key(|(span, _)| span.start);
        let mut out = Vec::with_capacity(self.src.len() + 64);
        let mut at = 0;
        for (span, bytes) in edits {
            if span.start < at || span.end > self.src.len() || span.start > span.end {
                return Err(SyntaxError::at(&self.src, span.start, "overlapping edit"));
            }
            out.extend_from_slice(&self.src[at..span.start]);
            out.extend_from_slice(bytes);
            at = span.end;
        }
        out.extend_from_slice(&self.src[at..]);
        Document::parse(out)
    }
}

struct Parser<'a> {
    src: &'a [u8],
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn err(&self, offset: usize, reason: impl Into<String>) -> SyntaxError {
        SyntaxError::at(self.src, offset, reason)
    }

    fn text(&self, span: &Range<usize>) -> &str {
        // Names and numbers are ASCII by construction of the lexer.
        std::str::from_utf8(&self.src[span.clone()]).unwrap_or("")
    }

    fn found(&self, t: Option<&Token>) -> String {
        match t {
            None => "end of file".into(),
            Some(t) if t.kind == Kind::String => "a string".into(),
            Some(t) => format!("'{}'", self.text(&t.span)),
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(at, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn file(&mut self) -> Result<Group, SyntaxError> {
        self.settings(None)
    }

    /// Settings up to the end of the file, or up to the `}` closing the group opened at `open`.
    fn settings(&mut self, open: Option<usize>) -> Result<Group, SyntaxError> {
        let mut group = Group::default();
        let mut seen = HashSet::new();
        loop {
            let Some(t) = self.peek().cloned() else {
                return match open {
                    None => Ok(group),
                    Some(o) => Err(self.unclosed(o)),
                };
            };
            match t.kind {
                Kind::GroupEnd if open.is_some() => {
                    self.pos += 1;
                    return Ok(group);
                }
                Kind::Include => {
                    self.pos += 1;
                    group.entries.push(Entry::Include(t.span));
                }
                Kind::Name => {
                    let s = self.setting()?;
                    if !seen.insert(s.name.clone()) {
                        return Err(self.err(
                            s.name_span.start,
                            format!("duplicate setting name '{}'", s.name),
                        ));
                    }
                    group.entries.push(Entry::Setting(s));
                }
                Kind::GroupEnd => return Err(self.err(t.span.start, "'}' closes nothing")),
                _ => {
                    return Err(self.err(
                        t.span.start,
                        format!("expected a setting name, found {}", self.found(Some(&t))),
                    ))
                }
            }
        }
    }

    fn unclosed(&self, open: usize) -> SyntaxError {
        let (line, col) = lexer::position(self.src, open);
        let c = self.src[open] as char;
        self.err(
            self.src.len(),
            format!("unexpected end of file: '{c}' opened at {line}:{col} is not closed"),
        )
    }

    fn setting(&mut self) -> Result<Setting, SyntaxError> {
        let name_tok = self.next().expect("caller saw a name");
        let name = self.text(&name_tok.span).to_string();
        match self.next() {
            Some(t) if t.kind == Kind::Equals => {}
            t => {
                let at = t.as_ref().map_or(self.src.len(), |t| t.span.start);
                return Err(self.err(
                    at,
                    format!(
                        "expected '=' or ':' after '{name}', found {}",
                        self.found(t.as_ref())
                    ),
                ));
            }
        }
        let value = self.value(&name)?;
        if matches!(
            self.peek().map(|t| t.kind),
            Some(Kind::Semicolon) | Some(Kind::Comma)
        ) {
            self.pos += 1;
        }
        Ok(Setting {
            name,
            name_span: name_tok.span,
            value,
        })
    }

    fn value(&mut self, owner: &str) -> Result<Node, SyntaxError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.err(
                self.src.len(),
                format!("unexpected end of file: expected a value for '{owner}'"),
            ));
        };
        match t.kind {
            Kind::GroupStart => {
                self.pos += 1;
                self.enter(t.span.start)?;
                let g = self.settings(Some(t.span.start))?;
                self.depth -= 1;
                Ok(self.node(t.span.start, Value::Group(g)))
            }
            Kind::ListStart => self.sequence(t.span.start, owner, false),
            Kind::ArrayStart => self.sequence(t.span.start, owner, true),
            _ => self.scalar(owner),
        }
    }

    /// A node spanning from `start` to the end of the last token consumed.
    fn node(&self, start: usize, value: Value) -> Node {
        let end = self.tokens[self.pos - 1].span.end;
        Node {
            span: start..end,
            value,
        }
    }

    /// `( value, ... )` or `[ scalar, ... ]`; a trailing comma is accepted, as libconfig 1.7 does.
    fn sequence(&mut self, open: usize, owner: &str, array: bool) -> Result<Node, SyntaxError> {
        self.pos += 1;
        self.enter(open)?;
        let close = if array { Kind::ArrayEnd } else { Kind::ListEnd };
        let mut items: Vec<Node> = Vec::new();
        loop {
            match self.peek().map(|t| t.kind) {
                None => return Err(self.unclosed(open)),
                Some(k) if k == close => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let item = if array {
                self.array_element(owner, items.first())?
            } else {
                self.value(owner)?
            };
            items.push(item);
            match self.peek().cloned() {
                Some(t) if t.kind == Kind::Comma => self.pos += 1,
                Some(t) if t.kind == close => {}
                None => return Err(self.unclosed(open)),
                Some(t) => {
                    let want = if array { "']'" } else { "')'" };
                    return Err(self.err(
                        t.span.start,
                        format!(
                            "expected ',' or {want} in '{owner}', found {}",
                            self.found(Some(&t))
                        ),
                    ));
                }
            }
        }
        self.depth -= 1;
        let value = if array {
            Value::Array(items)
        } else {
            Value::List(items)
        };
        Ok(self.node(open, value))
    }

    fn array_element(&mut self, owner: &str, first: Option<&Node>) -> Result<Node, SyntaxError> {
        let at = self.peek().map_or(self.src.len(), |t| t.span.start);
        if matches!(
            self.peek().map(|t| t.kind),
            Some(Kind::GroupStart) | Some(Kind::ListStart) | Some(Kind::ArrayStart)
        ) {
            return Err(self.err(at, format!("array '{owner}' may hold only scalar values")));
        }
        let node = self.scalar(owner)?;
        if let (Some(a), Some(b)) = (first.and_then(Node::scalar), node.scalar()) {
            if std::mem::discriminant(a) != std::mem::discriminant(b) {
                return Err(self.err(
                    at,
                    format!(
                        "array '{owner}' mixes {} and {} elements",
                        a.kind_name(),
                        b.kind_name()
                    ),
                ));
            }
        }
        Ok(node)
    }

    fn scalar(&mut self, owner: &str) -> Result<Node, SyntaxError> {
        let t = self.next().expect("caller peeked a token");
        let text = self.text(&t.span).to_string();
        let parsed = match t.kind {
            Kind::String => {
                let mut bytes = Vec::new();
                scalar::decode_string(&self.src[t.span.clone()], &mut bytes);
                // Adjacent literals form one string.
                while let Some(n) = self.peek().filter(|n| n.kind == Kind::String).cloned() {
                    scalar::decode_string(&self.src[n.span.clone()], &mut bytes);
                    self.pos += 1;
                }
                Ok(Scalar::Str(bytes))
            }
            Kind::Bool => Ok(Scalar::Bool(text.eq_ignore_ascii_case("true"))),
            Kind::Integer => scalar::parse_integer(&text, false),
            Kind::Integer64 => scalar::parse_integer(&text, true),
            Kind::Hex => scalar::parse_hex(&text, false),
            Kind::Hex64 => scalar::parse_hex(&text, true),
            Kind::Float => scalar::parse_float(&text),
            _ => {
                return Err(self.err(
                    t.span.start,
                    format!(
                        "expected a value for '{owner}', found {}",
                        self.found(Some(&t))
                    ),
                ))
            }
        };
        let value = parsed.map_err(|reason| self.err(t.span.start, reason))?;
        Ok(self.node(t.span.start, Value::Scalar(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Document, String> {
        Document::parse(s.as_bytes().to_vec()).map_err(|e| e.to_string())
    }

    fn scalar_at<'a>(d: &'a Document, path: &[&str]) -> &'a Scalar {
        let mut g = d.root();
        for (i, p) in path.iter().enumerate() {
            let n = g.get(p).unwrap();
            if i + 1 == path.len() {
                return n.scalar().unwrap();
            }
            match &n.value {
                Value::Group(inner) => g = inner,
                _ => panic!("not a group"),
            }
        }
        unreachable!()
    }

    const TOUR: &str = r#"
# hash comment
// slash comment
/* block
   comment */
  @include "other.cfg"
version = "1.0";
app : {
  name = "x" /* between */ "y"   # joined
         "z";
  hex = 0x1F, big = 12L
  f = 1.5e3;
  on = TRUE;
  list = ( 1, "two", { inner = [ 1, 2, 3 ] }, ( ), [ ], );
  nested = { deeper = { deepest = -7; }; };
};
"#;

    #[test]
    fn whole_grammar_parses_and_prints_back() {
        let d = parse(TOUR).unwrap();
        assert_eq!(d.as_bytes(), TOUR.as_bytes());
        assert_eq!(scalar_at(&d, &["app", "name"]).as_str(), Some("xyz"));
        assert_eq!(scalar_at(&d, &["app", "hex"]), &Scalar::Int(31));
        assert_eq!(scalar_at(&d, &["app", "big"]), &Scalar::Int64(12));
        assert_eq!(scalar_at(&d, &["app", "f"]), &Scalar::Float(1500.0));
        assert_eq!(scalar_at(&d, &["app", "on"]), &Scalar::Bool(true));
        assert_eq!(
            scalar_at(&d, &["app", "nested", "deeper", "deepest"]),
            &Scalar::Int(-7)
        );
        assert!(matches!(d.root().entries[0], Entry::Include(_)));
        let Value::Group(app) = &d.root().get("app").unwrap().value else {
            panic!()
        };
        let Value::List(items) = &app.get("list").unwrap().value else {
            panic!()
        };
        assert_eq!(items.len(), 5);
    }

    #[test]
    fn joined_string_spans_all_literals() {
        let src = "a = \"x\" \"y\"; b = 1;";
        let d = parse(src).unwrap();
        let n = d.root().get("a").unwrap();
        assert_eq!(&src[n.span.clone()], "\"x\" \"y\"");
        let d2 = d
            .with_replacements(&[(n.span.clone(), b"\"q\"".to_vec())])
            .unwrap();
        assert_eq!(d2.as_bytes(), b"a = \"q\"; b = 1;");
    }

    #[test]
    fn empty_and_comment_only_files_are_valid() {
        assert!(parse("").unwrap().root().entries.is_empty());
        assert!(parse("# nothing\n").unwrap().root().entries.is_empty());
    }

    #[test]
    fn errors_give_position_and_reason() {
        let cases = [
            ("a = 1;\nb = ;", "2:5: expected a value for 'b', found ';'"),
            ("a 1;", "1:3: expected '=' or ':' after 'a', found '1'"),
            (
                "g = {\n a = 1;\n",
                "3:1: unexpected end of file: '{' opened at 1:5 is not closed",
            ),
            ("a = 1; }", "1:8: '}' closes nothing"),
            ("a = 1; a = 2;", "1:8: duplicate setting name 'a'"),
            (
                "a = [1, \"x\"];",
                "1:9: array 'a' mixes integer and string elements",
            ),
            ("a = [ {} ];", "1:7: array 'a' may hold only scalar values"),
            ("a = (1 2);", "1:8: expected ',' or ')' in 'a', found '2'"),
            ("a = (1,,2);", "1:8: expected a value for 'a', found ','"),
            ("a = 1;;", "1:7: expected a setting name, found ';'"),
            (
                "a =",
                "1:4: unexpected end of file: expected a value for 'a'",
            ),
            ("a = .;", "1:5: \".\" is not a number"),
        ];
        for (src, want) in cases {
            assert_eq!(parse(src).unwrap_err(), want, "{src}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("a = {}{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&src).unwrap_err().contains("nesting deeper"));
        let ok = format!("a = {}{};", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }
}
