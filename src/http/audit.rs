//! The audit trail: one INFO line for every call that changes something on the host or reads its
//! files on the manager's behalf (plugin start/stop, collect/items/change, file/collect), naming
//! the peer and what was asked and done. Only names and paths go in: never a token, never file
//! content. Caller-supplied text is quoted with escapes, so it cannot forge journal lines.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde_json::Value;

use super::envelope::{code_of, SUCCEED};
use crate::api::{Call, Outcome, Reply};
use crate::peers;

/// Items or paths named in one line at most; the rest are counted.
const MAX_LISTED: usize = 64;
/// Characters of one name or path shown; a longer one is cut, saying how long it was.
const MAX_CHARS: usize = 256;

/// Whether `call` is one the trail records (the others only read host facts).
pub fn wanted(call: &Call) -> bool {
    matches!(
        call,
        Call::PluginStart { .. }
            | Call::PluginStop { .. }
            | Call::CollectItemsChange { .. }
            | Call::FileCollect { .. }
    )
}

/// Logs the line for `call`, answered with `outcome`, from `peer`.
pub fn record(call: &Call, peer: SocketAddr, outcome: &Outcome) {
    if !crate::log::enabled(crate::log::Level::Info) {
        return;
    }
    if let Some(line) = line(call, peer, outcome) {
        crate::info!("{line}");
    }
}

pub fn line(call: &Call, peer: SocketAddr, outcome: &Outcome) -> Option<String> {
    let from = peers::canonical(peer.ip());
    let code = match outcome {
        Ok(_) => SUCCEED,
        Err(e) => code_of(e),
    };
    Some(match call {
        Call::PluginStart { plugin } => {
            format!("audit: plugin/start {plugin:?} from {from}: code {code}")
        }
        Call::PluginStop { plugin } => {
            format!("audit: plugin/stop {plugin:?} from {from}: code {code}")
        }
        Call::CollectItemsChange { body } => {
            let mut s = format!("audit: collect/items/change from {from}: asked ");
            items_asked(&mut s, body.as_ref());
            let _ = write!(s, "; code {code}");
            if let Ok(Reply::Success(Some(resp))) = outcome {
                items_result(&mut s, resp);
            }
            s
        }
        Call::FileCollect { paths } => {
            let mut s = format!("audit: file/collect from {from}: asked ");
            list(&mut s, paths.iter().map(String::as_str), paths.len());
            match outcome {
                Ok(Reply::Raw(v)) => {
                    let failed: Vec<&str> = strings(&v["fail_files"]);
                    s.push_str("; failed ");
                    list(&mut s, failed.iter().copied(), failed.len());
                }
                _ => {
                    let _ = write!(s, "; code {code}");
                }
            }
            s
        }
        _ => return None,
    })
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `["a", "b"]`, at most [`MAX_LISTED`] entries, then `(and N more)`.
fn list<'a>(s: &mut String, items: impl Iterator<Item = &'a str>, total: usize) {
    s.push('[');
    for (i, item) in items.take(MAX_LISTED).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        quoted(s, item);
    }
    s.push(']');
    if total > MAX_LISTED {
        let _ = write!(s, " (and {} more)", total - MAX_LISTED);
    }
}

/// `"text"` with escapes, cut after [`MAX_CHARS`] characters.
fn quoted(s: &mut String, text: &str) {
    match text.char_indices().nth(MAX_CHARS) {
        None => {
            let _ = write!(s, "{text:?}");
        }
        Some((cut, _)) => {
            let _ = write!(s, "{:?}... ({} bytes)", &text[..cut], text.len());
        }
    }
}

/// `gala-gopher: "tcp"=on "redis"=auto`, from the request body as sent.
fn items_asked(s: &mut String, body: Option<&Value>) {
    let Some(Value::Object(plugins)) = body else {
        s.push_str("nothing");
        return;
    };
    let mut n = 0;
    for (i, (plugin, items)) in plugins.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        quoted(s, plugin);
        s.push(':');
        let Value::Object(items) = items else {
            s.push_str(" (not an object)");
            continue;
        };
        for (name, state) in items {
            n += 1;
            if n > MAX_LISTED {
                continue;
            }
            match state {
                Value::String(st) => {
                    s.push(' ');
                    quoted(s, name);
                    s.push('=');
                    quoted(s, st);
                }
                _ => {
                    s.push(' ');
                    quoted(s, name);
                    s.push_str("=(not a string)");
                }
            }
        }
    }
    if n > MAX_LISTED {
        let _ = write!(s, " (and {} more)", n - MAX_LISTED);
    }
}

/// `; "gala-gopher" success [...] failure [...]`, from the reply's lists.
fn items_result(s: &mut String, resp: &Value) {
    let Value::Object(plugins) = resp else {
        return;
    };
    for (plugin, r) in plugins {
        let ok = strings(&r["success"]);
        let failed = strings(&r["failure"]);
        s.push_str("; ");
        quoted(s, plugin);
        s.push_str(" success ");
        list(s, ok.iter().copied(), ok.len());
        s.push_str(" failure ");
        list(s, failed.iter().copied(), failed.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiError;
    use serde_json::json;

    fn peer() -> SocketAddr {
        "[::ffff:10.0.0.5]:40000".parse().unwrap()
    }

    #[test]
    fn plugin_calls_name_plugin_peer_and_code() {
        let c = Call::PluginStart {
            plugin: "gala-gopher".into(),
        };
        assert_eq!(
            line(&c, peer(), &Ok(Reply::Success(None))).unwrap(),
            "audit: plugin/start \"gala-gopher\" from 10.0.0.5: code 200"
        );
        let c = Call::PluginStop {
            plugin: "x\ny".into(),
        };
        assert_eq!(
            line(&c, peer(), &Err(ApiError::Parameter("p".into()))).unwrap(),
            "audit: plugin/stop \"x\\ny\" from 10.0.0.5: code 1000"
        );
        assert!(!wanted(&Call::HostInfo { types: vec![] }));
        assert!(line(&Call::PluginInfo, peer(), &Ok(Reply::Success(None))).is_none());
    }

    #[test]
    fn items_change_lists_what_was_asked_and_the_result() {
        let c = Call::CollectItemsChange {
            body: Some(json!({"gala-gopher": {"tcp": "on", "redis": 5}})),
        };
        let resp = json!({"gala-gopher": {"success": ["tcp"], "failure": ["redis"]}});
        assert_eq!(
            line(&c, peer(), &Ok(Reply::Success(Some(resp)))).unwrap(),
            "audit: collect/items/change from 10.0.0.5: asked \"gala-gopher\": \"redis\"=(not a string) \"tcp\"=\"on\"; code 200; \"gala-gopher\" success [\"tcp\"] failure [\"redis\"]"
        );
        let c = Call::CollectItemsChange { body: None };
        assert_eq!(
            line(&c, peer(), &Err(ApiError::Parameter("empty".into()))).unwrap(),
            "audit: collect/items/change from 10.0.0.5: asked nothing; code 1000"
        );
    }

    #[test]
    fn file_collect_lists_paths_and_failures_never_content() {
        let c = Call::FileCollect {
            paths: vec!["/etc/hosts".into(), "/etc/shadow".into()],
        };
        let reply = json!({"success_files": ["/etc/hosts"], "fail_files": ["/etc/shadow"],
                           "infos": [{"path": "/etc/hosts", "content": "SECRET-CONTENT"}]});
        let l = line(&c, peer(), &Ok(Reply::Raw(reply))).unwrap();
        assert_eq!(
            l,
            "audit: file/collect from 10.0.0.5: asked [\"/etc/hosts\", \"/etc/shadow\"]; failed [\"/etc/shadow\"]"
        );
        let many = Call::FileCollect {
            paths: (0..70).map(|i| format!("/f{i}")).collect(),
        };
        let l = line(&many, peer(), &Err(ApiError::Parameter("e".into()))).unwrap();
        assert!(l.ends_with("\"/f63\"] (and 6 more); code 1000"), "{l}");
        let long = Call::FileCollect {
            paths: vec![format!("/{}", "a".repeat(100_000))],
        };
        let l = line(&long, peer(), &Err(ApiError::Parameter("e".into()))).unwrap();
        assert!(l.len() < 400, "{}", l.len());
        assert!(l.contains("aaa\"... (100001 bytes)]"), "{l}");
    }
}
