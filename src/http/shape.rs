//! Request-shape checks: what must hold before the token is even looked at (HTTP 400 otherwise).
//! Value checks (unknown names, empty strings) come later, in the handlers, and answer code 1000.

use std::collections::HashSet;

use serde_json::Value;

use crate::api::Call;
use crate::json_kind::type_name;

/// Which endpoint a request reached, after routing by path and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    PluginStart,
    PluginStop,
    ApplicationInfo,
    HostInfoPost,
    HostInfoGet,
    PluginInfo,
    CollectItemsChange,
    FileCollect,
}

/// Checks the query and body of a routed request; the `Err` is the problem's `detail`.
pub fn parse(endpoint: Endpoint, query: Option<&str>, body: &[u8]) -> Result<Call, String> {
    match endpoint {
        Endpoint::PluginStart => Ok(Call::PluginStart {
            plugin: plugin_name(query)?,
        }),
        Endpoint::PluginStop => Ok(Call::PluginStop {
            plugin: plugin_name(query)?,
        }),
        Endpoint::ApplicationInfo => Ok(Call::ApplicationInfo),
        Endpoint::PluginInfo => Ok(Call::PluginInfo),
        Endpoint::HostInfoGet => Ok(Call::HostInfo { types: Vec::new() }),
        Endpoint::HostInfoPost => Ok(Call::HostInfo {
            types: string_array(body, true)?,
        }),
        Endpoint::FileCollect => Ok(Call::FileCollect {
            paths: string_array(body, false)?,
        }),
        Endpoint::CollectItemsChange => {
            // The contract answers a missing or empty body with code 1000, not 400: let the
            // handler see "nothing".
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Call::CollectItemsChange { body: None });
            }
            match json(body)? {
                Value::Null => Ok(Call::CollectItemsChange { body: None }),
                v @ Value::Object(_) => Ok(Call::CollectItemsChange { body: Some(v) }),
                other => Err(format!(
                    "Request body must be a JSON object, not {}",
                    type_name(&other)
                )),
            }
        }
    }
}

fn plugin_name(query: Option<&str>) -> Result<String, String> {
    query_param(query.unwrap_or(""), "plugin_name")
        .ok_or_else(|| "Missing query parameter 'plugin_name'".to_string())
}

fn json(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("Request body is empty; a JSON body is required".into());
    }
    serde_json::from_slice(body).map_err(|e| format!("Request body is not valid JSON: {e}"))
}

fn string_array(body: &[u8], unique: bool) -> Result<Vec<String>, String> {
    let items = match json(body)? {
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "Request body must be a JSON array of strings, not {}",
                type_name(&other)
            ))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::String(s) => {
                if unique && !seen.insert(s.clone()) {
                    return Err(format!("Request body item {s:?} appears more than once"));
                }
                out.push(s);
            }
            other => {
                return Err(format!(
                    "Request body item {i} must be a string, not {}",
                    type_name(&other)
                ))
            }
        }
    }
    Ok(out)
}

/// The first value of `name` in a query string, percent-decoded (`+` is a space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param("plugin_name=gala-gopher", "plugin_name").as_deref(),
            Some("gala-gopher")
        );
        assert_eq!(
            query_param("a=1&plugin_name=gala%2Dgopher", "plugin_name").as_deref(),
            Some("gala-gopher")
        );
        assert_eq!(
            query_param("plugin_name=a+b%", "plugin_name").as_deref(),
            Some("a b%")
        );
        assert_eq!(
            query_param("plugin_name", "plugin_name").as_deref(),
            Some("")
        );
        assert_eq!(query_param("plugin=x", "plugin_name"), None);
        assert_eq!(query_param("", "plugin_name"), None);
    }

    #[test]
    fn host_info_body_must_be_unique_strings() {
        let p = |b: &str| parse(Endpoint::HostInfoPost, None, b.as_bytes());
        assert_eq!(
            p(r#"["cpu","os"]"#),
            Ok(Call::HostInfo {
                types: vec!["cpu".into(), "os".into()]
            })
        );
        assert_eq!(p("[]"), Ok(Call::HostInfo { types: vec![] }));
        assert!(p(r#"["cpu","cpu"]"#)
            .unwrap_err()
            .contains("more than once"));
        assert!(p(r#"["cpu",1]"#)
            .unwrap_err()
            .contains("item 1 must be a string"));
        assert!(p(r#"{"cpu":1}"#).unwrap_err().contains("not an object"));
        assert!(p("nonsense").unwrap_err().contains("not valid JSON"));
        assert!(p("").is_err());
    }

    #[test]
    fn file_collect_allows_duplicates_but_not_other_types() {
        let p = |b: &str| parse(Endpoint::FileCollect, None, b.as_bytes());
        assert!(p(r#"["/a","/a"]"#).is_ok());
        assert!(p(r#"[null]"#).is_err());
        assert!(p(r#""/a""#).is_err());
    }

    #[test]
    fn collect_items_body_may_be_missing_but_not_an_array() {
        let p = |b: &str| parse(Endpoint::CollectItemsChange, None, b.as_bytes());
        assert_eq!(p(""), Ok(Call::CollectItemsChange { body: None }));
        assert_eq!(p("null"), Ok(Call::CollectItemsChange { body: None }));
        assert!(p("{}").is_ok());
        assert!(p("[]").is_err());
        assert!(p("{").is_err());
    }
}
