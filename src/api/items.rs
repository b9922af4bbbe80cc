//! collect/items/change: switch gala-gopher probes on, off or auto.

use serde_json::Value;

use super::{ApiError, Ctx, Outcome};

pub const STATES: &[&str] = &["on", "off", "auto"];

/// `{"plugin": {"probe": "on"|"off"|"auto", ...}, ...}`, as (plugin, [(probe, state)]).
pub type Changes = Vec<(String, Vec<(String, String)>)>;

/// Value checks of the request: anything but object → object → state is code 1000.
pub fn parse_changes(body: Option<Value>) -> Result<Changes, ApiError> {
    let Some(Value::Object(plugins)) = body else {
        return Err(ApiError::Parameter("the request body is empty".into()));
    };
    if plugins.is_empty() {
        return Err(ApiError::Parameter("the request body is empty".into()));
    }
    let mut out = Vec::with_capacity(plugins.len());
    for (plugin, items) in plugins {
        let Value::Object(items) = items else {
            return Err(ApiError::Parameter(format!(
                "{plugin:?} must map probe names to states"
            )));
        };
        let mut list = Vec::with_capacity(items.len());
        for (probe, state) in items {
            match state.as_str() {
                Some(s) if STATES.contains(&s) => list.push((probe, s.to_string())),
                _ => {
                    return Err(ApiError::Parameter(format!(
                        "{plugin:?} → {probe:?}: state must be one of on, off, auto, not {state}"
                    )))
                }
            }
        }
        out.push((plugin, list));
    }
    Ok(out)
}

pub fn change(_ctx: &Ctx, body: Option<Value>) -> Outcome {
    let _changes = parse_changes(body)?;
    Err(ApiError::Pending("probe switching"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shape_errors_are_parameter_errors() {
        assert!(parse_changes(None).is_err());
        assert!(parse_changes(Some(json!({}))).is_err());
        assert!(parse_changes(Some(json!({"gala-gopher": ["tcp"]}))).is_err());
        assert!(parse_changes(Some(json!({"gala-gopher": {"tcp": "maybe"}}))).is_err());
        assert!(parse_changes(Some(json!({"gala-gopher": {"tcp": 1}}))).is_err());
        let ok =
            parse_changes(Some(json!({"gala-gopher": {"tcp": "on", "redis": "auto"}}))).unwrap();
        assert_eq!(ok[0].0, "gala-gopher");
        assert_eq!(ok[0].1.len(), 2);
    }
}
