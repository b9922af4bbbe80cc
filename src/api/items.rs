//! collect/items/change: switch gala-gopher probes on, off or auto.

use serde_json::{json, Map, Value};

use super::{plugin, ApiError, Ctx, Outcome, Reply};

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

pub fn change(ctx: &Ctx, body: Option<Value>) -> Outcome {
    let changes = parse_changes(body)?;
    let mut resp = Map::new();
    for (plugin, items) in changes {
        let (success, failure) = change_plugin(ctx, &plugin, &items);
        resp.insert(plugin, json!({"success": success, "failure": failure}));
    }
    Ok(Reply::Success(Some(Value::Object(resp))))
}

/// The items of one plugin that were applied and those that were not.
fn change_plugin(
    ctx: &Ctx,
    plugin: &str,
    items: &[(String, String)],
) -> (Vec<String>, Vec<String>) {
    let all_fail = || (Vec::new(), items.iter().map(|(n, _)| n.clone()).collect());
    if !plugin::SUPPORTED.contains(&plugin) {
        crate::info!("collect/items/change: unsupported plugin {plugin:?}");
        return all_fail();
    }
    let Some(unit) = plugin::installed_unit(ctx, plugin) else {
        let names: Vec<String> = items.iter().map(|(n, _)| format!("{n:?}")).collect();
        crate::warning!(
            "collect/items/change: {plugin} is not installed: {} not switched",
            names.join(", ")
        );
        return all_fail();
    };
    let applied = ctx.gopher.apply(&unit, items);
    for (name, why) in &applied.reasons {
        // Names come from the caller and reasons from gala-gopher: neither may start a line.
        let why = why.replace(|c: char| c.is_control(), " ");
        crate::warning!("collect/items/change: {plugin} probe {name:?} not switched: {why}");
    }
    if applied.restart_owed {
        plugin::schedule_restart(ctx);
    }
    (applied.success, applied.failure)
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

    use crate::api::plugin::tests::{ctx_with, temp};
    use crate::systemd::fake::Fake;
    use std::sync::Arc;

    fn resp(ctx: &Ctx, body: Value) -> Value {
        match change(ctx, Some(body)) {
            Ok(Reply::Success(Some(v))) => v,
            other => panic!("change failed: {other:?}"),
        }
    }

    #[test]
    fn unsupported_or_absent_plugins_fail_every_item() {
        let fake = Arc::new(Fake::default());
        let dir = temp("items-absent");
        let ctx = ctx_with(fake.clone(), &dir);
        std::fs::write(
            ctx.config.gopher_config_path.as_ref().unwrap(),
            "probes = ();\n",
        )
        .unwrap();
        let v = resp(
            &ctx,
            json!({"gala-gopher": {"tcp": "on", "redis": "auto"}, "nginx": {"x": "off"}}),
        );
        assert_eq!(
            v,
            json!({"gala-gopher": {"success": [], "failure": ["redis", "tcp"]},
                   "nginx": {"success": [], "failure": ["x"]}})
        );
        assert_eq!(
            std::fs::read_to_string(ctx.config.gopher_config_path.as_ref().unwrap()).unwrap(),
            "probes = ();\n"
        );
        assert!(fake.calls().iter().all(|c| !c.starts_with("try-restart")));
    }

    #[test]
    fn a_missing_configuration_fails_every_item_and_restarts_nothing() {
        let fake = Arc::new(Fake::default().with_unit(
            "gala-gopher.service",
            &[("LoadState", "loaded"), ("ActiveState", "active")],
        ));
        let dir = temp("items-noconf");
        let ctx = ctx_with(fake.clone(), &dir);
        let v = resp(&ctx, json!({"gala-gopher": {"tcp": "on"}}));
        assert_eq!(
            v,
            json!({"gala-gopher": {"success": [], "failure": ["tcp"]}})
        );
        assert!(ctx.plugins.restart_idle());
        assert!(fake.calls().iter().all(|c| !c.starts_with("try-restart")));
    }
}
