//! The probe rules of the contract on top of a document: which entries are probes, and which
//! switch changes are allowed.

use std::ops::Range;

use super::document::{Document, Node, Value};
use super::lexer::SyntaxError;
use super::scalar::{encode_string, Scalar};
use super::{ChangeResult, Probe};

/// The lists that hold probes, in the order they are reported.
const LISTS: [&str; 2] = ["probes", "extend_probes"];

/// A probe and where its `switch` value is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub probe: Probe,
    pub switch_span: Range<usize>,
}

/// Entries of `probes`, then `extend_probes`, that have both a string `name` and a string
/// `switch`; anything else in those lists is not a probe and is left alone.
pub fn entries(doc: &Document) -> Vec<Entry> {
    let mut out = Vec::new();
    for list in LISTS {
        let Some(Node {
            value: Value::List(items),
            ..
        }) = doc.root().get(list)
        else {
            continue;
        };
        for item in items {
            let Value::Group(g) = &item.value else {
                continue;
            };
            let name = g
                .get("name")
                .and_then(Node::scalar)
                .and_then(Scalar::as_str);
            let switch = g.get("switch");
            let state = switch.and_then(Node::scalar).and_then(Scalar::as_str);
            if let (Some(name), Some(state), Some(switch)) = (name, state, switch) {
                out.push(Entry {
                    probe: Probe {
                        name: name.to_string(),
                        switch: state.to_string(),
                        support_auto: g.get("start_check").is_some(),
                    },
                    switch_span: switch.span.clone(),
                });
            }
        }
    }
    out
}

/// Decides every `(name, state)` item in request order and returns the edited document when
/// some switch actually changes value. An item succeeds when a probe of that name exists and
/// the state is `on`/`off`, or `auto` for a probe with `start_check`. A name listed more than
/// once is switched everywhere, and only when every entry of that name allows the state.
pub fn apply(
    doc: &Document,
    items: &[(String, String)],
) -> Result<(ChangeResult, Option<Document>), SyntaxError> {
    let entries = entries(doc);
    // Last request wins per entry; values are compared with what the file says at the end.
    let mut wanted: Vec<Option<&str>> = vec![None; entries.len()];
    let mut result = ChangeResult::default();
    for (name, state) in items {
        let matching: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].probe.name == *name)
            .collect();
        let allowed = !matching.is_empty()
            && matching.iter().all(|&i| match state.as_str() {
                "on" | "off" => true,
                "auto" => entries[i].probe.support_auto,
                _ => false,
            });
        if allowed {
            for i in matching {
                wanted[i] = Some(state);
            }
            result.success.push(name.clone());
        } else {
            result.failure.push(name.clone());
        }
    }
    let edits: Vec<(Range<usize>, Vec<u8>)> = entries
        .iter()
        .zip(&wanted)
        .filter_map(|(e, w)| match w {
            Some(state) if *state != e.probe.switch => {
                Some((e.switch_span.clone(), encode_string(state.as_bytes())))
            }
            _ => None,
        })
        .collect();
    if edits.is_empty() {
        return Ok((result, None));
    }
    // Replacing a string literal with another keeps the grammar; parsing again proves it.
    let new = doc.with_replacements(&edits)?;
    result.changed = true;
    Ok((result, Some(new)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
probes = (
    { name = "example"; switch = "off"; },   # a comment that stays
    { name = "sys"; param = ""; switch = "on"; },
    { name = "noswitch"; },
    { switch = "on"; }
);
extend_probes = (
    {
        name = "redis";
        start_check = "ps | grep 'redis\|keydb'";
        switch = "auto"
    },
    { name = "tcp"; switch = "o" /* split */ "n"; }
);
other = { probes = ( { name = "hidden"; switch = "on"; } ); };
"#;

    fn doc() -> Document {
        Document::parse(SRC.as_bytes().to_vec()).unwrap()
    }

    fn items(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn probes_follow_the_contract_rules() {
        let got: Vec<(String, String, bool)> = entries(&doc())
            .into_iter()
            .map(|e| (e.probe.name, e.probe.switch, e.probe.support_auto))
            .collect();
        let want = [
            ("example", "off", false),
            ("sys", "on", false),
            ("redis", "auto", true),
            ("tcp", "on", false),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2), w);
        }
    }

    #[test]
    fn only_the_switch_values_change() {
        let (r, new) = apply(
            &doc(),
            &items(&[("example", "on"), ("redis", "off"), ("tcp", "off")]),
        )
        .unwrap();
        assert_eq!(r.success, ["example", "redis", "tcp"]);
        assert!(r.failure.is_empty() && r.changed);
        let want = SRC
            .replacen(r#"switch = "off"; },"#, r#"switch = "on"; },"#, 1)
            .replacen(r#"switch = "auto""#, r#"switch = "off""#, 1)
            .replacen(r#""o" /* split */ "n""#, r#""off""#, 1);
        assert_eq!(new.unwrap().as_bytes(), want.as_bytes());
    }

    #[test]
    fn failures_and_no_op_changes() {
        let (r, new) = apply(
            &doc(),
            &items(&[
                ("sys", "on"),
                ("sys", "auto"),
                ("redis", "auto"),
                ("hidden", "off"),
                ("noswitch", "on"),
                ("tcp", "bogus"),
            ]),
        )
        .unwrap();
        assert_eq!(r.success, ["sys", "redis"]);
        assert_eq!(r.failure, ["sys", "hidden", "noswitch", "tcp"]);
        assert!(!r.changed);
        assert!(new.is_none());
    }

    #[test]
    fn a_name_listed_twice_switches_everywhere_or_nowhere() {
        let src = r#"probes = ({ name = "a"; switch = "off"; start_check = "x"; });
extend_probes = ({ name = "a"; switch = "off"; });"#;
        let d = Document::parse(src.as_bytes().to_vec()).unwrap();
        let (r, new) = apply(&d, &items(&[("a", "auto")])).unwrap();
        assert_eq!(r.failure, ["a"]);
        assert!(new.is_none());
        let (r, new) = apply(&d, &items(&[("a", "on")])).unwrap();
        assert_eq!(r.success, ["a"]);
        let new = new.unwrap();
        assert!(entries(&new).iter().all(|e| e.probe.switch == "on"));
    }
}
