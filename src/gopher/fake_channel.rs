//! An in-memory gala-gopher 2.x for unit tests of the dynamic backend: the documented rules
//! (gala-gopher.md), a build that may lack sub-items, and a record of every call.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::catalogue;
use super::channel::{Answer, Channel, ChannelError};

#[derive(Default)]
pub struct FakeGopher {
    /// The probes this build has, with their configuration (`{}` until configured).
    pub probes: Mutex<BTreeMap<String, Map<String, Value>>>,
    /// Sub-items this build lacks.
    pub lacks: Vec<&'static str>,
    /// master words the refusal with a final `.`.
    pub dot: bool,
    /// master: probes that filter by process refuse any change without snoopers or blacklist.
    pub needs_snoopers_or_blacklist: bool,
    /// Every change is refused with this message.
    pub refuse: Option<String>,
    /// The daemon does not answer.
    pub down: bool,
    /// `get NAME` and `set NAME DOC`, in call order.
    pub calls: Mutex<Vec<String>>,
}

impl FakeGopher {
    pub fn with(names: &[&str]) -> FakeGopher {
        let f = FakeGopher::default();
        for n in names {
            f.probes.lock().unwrap().insert(n.to_string(), Map::new());
        }
        f
    }

    pub fn builtin() -> FakeGopher {
        FakeGopher::with(catalogue::BUILTIN)
    }

    pub fn configure(&self, name: &str, doc: Value) {
        let Value::Object(m) = doc else { panic!() };
        self.probes.lock().unwrap().insert(name.to_string(), m);
    }

    pub fn sets(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with("set "))
            .cloned()
            .collect()
    }

    pub fn state(&self, name: &str) -> Option<String> {
        self.probes.lock().unwrap()[name]
            .get("state")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

impl Channel for FakeGopher {
    fn describe(&self) -> String {
        "fake".into()
    }

    fn get(&self, probe: &str) -> Result<Answer, ChannelError> {
        self.calls.lock().unwrap().push(format!("get {probe}"));
        if self.down {
            return Err(ChannelError::Unreachable("down".into()));
        }
        Ok(match self.probes.lock().unwrap().get(probe) {
            Some(d) => Answer::Doc(d.clone()),
            None => Answer::NoSuchProbe,
        })
    }

    fn set(&self, probe: &str, doc: &str) -> Result<Answer, ChannelError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("set {probe} {doc}"));
        if self.down {
            return Err(ChannelError::Unreachable("down".into()));
        }
        if let Some(m) = &self.refuse {
            return Ok(Answer::Refused(m.clone()));
        }
        let mut probes = self.probes.lock().unwrap();
        let Some(current) = probes.get_mut(probe) else {
            return Ok(Answer::NoSuchProbe);
        };
        let Ok(Value::Object(new)) = serde_json::from_str::<Value>(doc) else {
            return Ok(Answer::Refused("invalid json".into()));
        };
        if let Some(subs) = new
            .get("cmd")
            .and_then(|c| c.get("probe"))
            .and_then(Value::as_array)
        {
            for s in subs {
                let s = s.as_str().unwrap_or("");
                if self.lacks.contains(&s) {
                    let dot = if self.dot { "." } else { "" };
                    return Ok(Answer::Refused(format!(
                        "unsupported probe range: {s}{dot}"
                    )));
                }
            }
        }
        let mut merged = current.clone();
        merged.extend(new);
        if self.needs_snoopers_or_blacklist
            && catalogue::filters_processes(probe)
            && !merged.contains_key("snoopers")
            && !merged.contains_key("blacklist")
        {
            return Ok(Answer::Refused(format!(
                "{probe} needs snoopers or blacklist"
            )));
        }
        let has_subs = !catalogue::sub_items(probe).is_empty()
            && !catalogue::sub_items(probe)
                .iter()
                .all(|s| self.lacks.contains(s));
        let subs_empty = merged
            .get("cmd")
            .and_then(|c| c.get("probe"))
            .and_then(Value::as_array)
            .map_or(true, |a| a.is_empty());
        if merged.get("state").and_then(Value::as_str) == Some("running") && has_subs && subs_empty
        {
            return Ok(Answer::Refused(format!(
                "{probe} must have at least one sub-item"
            )));
        }
        *current = merged;
        Ok(Answer::Accepted)
    }
}
