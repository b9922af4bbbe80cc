//! application/info: which of the known applications run on this host.

use serde_json::json;

use super::{ApiError, Ctx, Outcome, Reply};

/// The applications the manager asks about, in the order it expects, with the unit names the
/// previous agent checked first and then those real distributions use.
pub const TARGETS: &[(&str, &[&str])] = &[
    ("mysql", &["mysqld", "mysql", "mariadb"]),
    ("kubernetes", &["kubernetes", "kubelet", "kube-apiserver"]),
    (
        "hadoop",
        &[
            "hadoop",
            "hadoop-namenode",
            "hadoop-datanode",
            "hadoop-resourcemanager",
            "hadoop-nodemanager",
        ],
    ),
    ("nginx", &["nginx"]),
    ("docker", &["docker"]),
    ("gala-gopher", &["gala-gopher"]),
];

pub fn info(ctx: &Ctx) -> Outcome {
    let units: Vec<String> = TARGETS
        .iter()
        .flat_map(|(_, names)| names.iter().map(|n| format!("{n}.service")))
        .collect();
    let unit_refs: Vec<&str> = units.iter().map(String::as_str).collect();
    // One query for every candidate: a process per name would cost more than the answer. Only
    // loaded units can run, and listing them spares systemd a search for the unit files of the
    // many candidates a host does not have (three times faster than `show` here).
    let states = ctx
        .plugins
        .systemd()
        .loaded_states(&unit_refs)
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    let runs = |unit: &str| {
        states
            .iter()
            .any(|(u, state)| u == unit && matches!(state.as_str(), "active" | "reloading"))
    };
    let running: Vec<&str> = TARGETS
        .iter()
        .filter(|(_, names)| names.iter().any(|n| runs(&format!("{n}.service"))))
        .map(|(app, _)| *app)
        .collect();
    Ok(Reply::Success(Some(json!({ "running": running }))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::plugin::tests::{ctx_with, temp};
    use crate::systemd::fake::Fake;
    use std::sync::Arc;

    fn running(fake: Fake) -> (serde_json::Value, Vec<String>) {
        let fake = Arc::new(fake);
        let dir = temp("application");
        let ctx = ctx_with(fake.clone(), &dir);
        let Ok(Reply::Success(Some(v))) = info(&ctx) else {
            panic!("application/info failed")
        };
        (v, fake.calls())
    }

    fn active(f: Fake, unit: &str) -> Fake {
        f.with_unit(unit, &[("LoadState", "loaded"), ("ActiveState", "active")])
    }

    #[test]
    fn nothing_installed_nothing_running() {
        let (v, calls) = running(Fake::default());
        assert_eq!(v, json!({"running": []}));
        assert_eq!(
            calls.len(),
            1,
            "one systemd query for every target: {calls:?}"
        );
    }

    #[test]
    fn distribution_unit_names_count_and_order_is_fixed() {
        let f = active(Fake::default(), "gala-gopher.service");
        let f = active(f, "mariadb.service");
        let f = active(f, "kubelet.service");
        let f = active(f, "docker.service");
        let f = f.with_unit(
            "nginx.service",
            &[("LoadState", "loaded"), ("ActiveState", "inactive")],
        );
        let (v, calls) = running(f);
        assert_eq!(
            v,
            json!({"running": ["mysql", "kubernetes", "docker", "gala-gopher"]})
        );
        assert_eq!(calls.len(), 1);
        assert!(calls[0].contains("mysqld.service,mysql.service,mariadb.service"));
    }

    #[test]
    fn the_previous_names_still_count() {
        let mut f = Fake::default();
        for u in [
            "mysqld",
            "kubernetes",
            "hadoop",
            "nginx",
            "docker",
            "gala-gopher",
        ] {
            f = active(f, &format!("{u}.service"));
        }
        let (v, _) = running(f);
        assert_eq!(
            v,
            json!({"running": ["mysql", "kubernetes", "hadoop", "nginx", "docker", "gala-gopher"]})
        );
    }
}
