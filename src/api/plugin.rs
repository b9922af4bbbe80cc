//! plugin/start, plugin/stop, plugin/info: gala-gopher under systemd.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{ApiError, Ctx, Outcome, Reply};
use crate::config::Config;
use crate::gopher::{self, UnitView};
use crate::systemd::restart::{self, Restarter};
use crate::systemd::{cgroup, value, Systemctl, Systemd, UnitProps};

/// The plugins the agent can manage; the manager knows no others.
pub const SUPPORTED: &[&str] = &["gala-gopher"];

/// Everything plugin/info needs, in one `systemctl show`.
const INFO_PROPS: &[&str] = &[
    "LoadState",
    "ActiveState",
    "ControlGroup",
    "CPUUsageNSec",
    "MemoryCurrent",
    "ActiveEnterTimestampMonotonic",
    "CPUQuotaPerSecUSec",
    "MemoryHigh",
];

/// State shared by the gala-gopher handlers across requests.
pub struct PluginState {
    systemd: Arc<dyn Systemd>,
    restarter: Restarter,
}

impl PluginState {
    pub fn new(_config: &Config) -> PluginState {
        PluginState::with_systemd(Arc::new(Systemctl::from_env()), restart::MIN_SPACING)
    }

    pub fn with_systemd(systemd: Arc<dyn Systemd>, restart_spacing: Duration) -> PluginState {
        PluginState {
            restarter: Restarter::new(
                Arc::clone(&systemd),
                &unit_of("gala-gopher"),
                restart_spacing,
            ),
            systemd,
        }
    }

    pub fn systemd(&self) -> &dyn Systemd {
        &*self.systemd
    }

    /// No gala-gopher restart is running or owed.
    pub fn restart_idle(&self) -> bool {
        self.restarter.idle()
    }
}

fn unit_of(plugin: &str) -> String {
    format!("{plugin}.service")
}

fn check_supported(plugin: &str) -> Result<(), ApiError> {
    if SUPPORTED.contains(&plugin) {
        Ok(())
    } else {
        Err(ApiError::Parameter(format!(
            "unsupported plugin {plugin:?} (supported: {})",
            SUPPORTED.join(", ")
        )))
    }
}

/// The unit's load and active state; `NotInstalled` when systemd has no such unit.
fn installed_state(ctx: &Ctx, unit: &str) -> Result<UnitProps, ApiError> {
    let props = show_one(ctx, unit, &["LoadState", "ActiveState"])?;
    if props.not_found() {
        return Err(ApiError::NotInstalled(unit.to_string()));
    }
    Ok(props)
}

fn show_one(ctx: &Ctx, unit: &str, props: &[&str]) -> Result<UnitProps, ApiError> {
    let mut blocks = ctx
        .plugins
        .systemd()
        .show(&[unit], props)
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    Ok(blocks.pop().unwrap_or_default())
}

pub fn start(ctx: &Ctx, plugin: &str) -> Outcome {
    check_supported(plugin)?;
    let unit = unit_of(plugin);
    let props = installed_state(ctx, &unit)?;
    if matches!(props.active_state(), Some("active" | "reloading")) {
        return Ok(Reply::Success(None));
    }
    ctx.plugins
        .systemd()
        .start(&unit)
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    crate::info!("started {unit}");
    Ok(Reply::Success(None))
}

pub fn stop(ctx: &Ctx, plugin: &str) -> Outcome {
    check_supported(plugin)?;
    let unit = unit_of(plugin);
    let props = installed_state(ctx, &unit)?;
    if props.active_state() == Some("inactive") {
        return Ok(Reply::Success(None));
    }
    ctx.plugins
        .systemd()
        .stop(&unit)
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    crate::info!("stopped {unit}");
    Ok(Reply::Success(None))
}

/// What probe control needs of the unit's properties (`ActiveState`, `ExecStop`).
pub fn unit_view(props: &UnitProps) -> UnitView {
    UnitView {
        running: matches!(props.active_state(), Some("active" | "reloading")),
        // `ExecStop=` is empty for a unit without one, `{ path=... }` otherwise.
        saves_at_stop: props.get("ExecStop").is_some_and(|v| !v.trim().is_empty()),
    }
}

/// The plugin's unit as probe control sees it; `None` when the unit is not installed. When
/// systemd cannot be asked, the answer is `None` too (and the journal says why): nothing is
/// done to a unit we cannot see.
pub fn installed_unit(ctx: &Ctx, plugin: &str) -> Option<UnitView> {
    if !SUPPORTED.contains(&plugin) {
        return None;
    }
    let unit = unit_of(plugin);
    match ctx
        .plugins
        .systemd()
        .show(&[&unit], &["LoadState", "ActiveState", "ExecStop"])
    {
        Ok(blocks) => blocks.first().filter(|p| !p.not_found()).map(unit_view),
        Err(e) => {
            crate::warning!("cannot tell whether {unit} is installed: {e}");
            None
        }
    }
}

/// Asks for gala-gopher to be restarted (if it runs) so a configuration change takes effect.
/// Restarts are coalesced: a burst of changes must not trip systemd's start limit.
pub fn schedule_restart(ctx: &Ctx) {
    ctx.plugins.restarter.schedule();
}

pub fn info(ctx: &Ctx) -> Outcome {
    let mut list = Vec::with_capacity(SUPPORTED.len());
    for plugin in SUPPORTED {
        let props = show_one(ctx, &unit_of(plugin), INFO_PROPS)?;
        let items = if props.not_found() {
            Vec::new()
        } else {
            ctx.gopher.list(&unit_view(&props))
        };
        list.push(plugin_entry(
            plugin,
            &props,
            &ctx.sysroot,
            collect_items(items),
            cgroup::monotonic_usec(),
        ));
    }
    Ok(Reply::Success(Some(Value::Array(list))))
}

/// One entry of plugin/info from the unit's properties, at monotonic time `now_usec`.
pub fn plugin_entry(
    plugin: &str,
    props: &UnitProps,
    sysroot: &Path,
    collect_items: Value,
    now_usec: u64,
) -> Value {
    if props.not_found() {
        return json!({"plugin_name": plugin, "is_installed": false, "status": null,
                      "collect_items": [], "resource": []});
    }
    let active = props.active_state() == Some("active");
    let (cpu_now, mem_now) = if active {
        current_usage(props, sysroot, now_usec)
    } else {
        (None, None)
    };
    json!({
        "plugin_name": plugin,
        "is_installed": true,
        "status": props.active_state(),
        "collect_items": collect_items,
        "resource": [
            {"name": "cpu", "current_value": cpu_now,
             "limit_value": value::cpu_quota(props.get("CPUQuotaPerSecUSec"))},
            {"name": "memory", "current_value": mem_now,
             "limit_value": value::memory_size(props.get("MemoryHigh"))},
        ],
    })
}

/// CPU (average since the unit became active) and memory of the unit's whole control group:
/// systemd's accounting where it has figures, else the sum over the group's processes.
fn current_usage(
    props: &UnitProps,
    sysroot: &Path,
    now_usec: u64,
) -> (Option<String>, Option<String>) {
    let mut cpu_ns = value::number(props.get("CPUUsageNSec"));
    let mut mem = value::number(props.get("MemoryCurrent"));
    if cpu_ns.is_none() || mem.is_none() {
        let group = props.get("ControlGroup").unwrap_or("");
        if let Some(u) = cgroup::usage(sysroot, group) {
            cpu_ns = cpu_ns.or(Some(u.cpu_ns));
            mem = mem.or(Some(u.rss_bytes));
        }
    }
    let since = value::number(props.get("ActiveEnterTimestampMonotonic")).filter(|&t| t > 0);
    let cpu = match (cpu_ns, since) {
        (Some(ns), Some(since)) if now_usec > since => {
            value::cpu_percent(ns, (now_usec - since) * 1000)
        }
        _ => None,
    };
    (cpu, mem.map(value::megabytes))
}

fn collect_items(probes: Vec<gopher::Probe>) -> Value {
    probes
        .into_iter()
        .map(|p| {
            json!({"probe_name": p.name, "probe_status": p.switch,
                   "support_auto": p.support_auto})
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::systemd::fake::{Fake, Scratch};
    use crate::token::TokenStore;

    pub(crate) fn ctx_with(fake: Arc<Fake>, dir: &Path) -> Ctx {
        let mut config = Config::defaults(&dir.join("agent.conf"));
        config.gopher_config_path = Some(dir.join("gala-gopher.conf"));
        Ctx {
            tokens: TokenStore::new(&dir.join("token.json")),
            gopher: gopher::Gopher::with_candidates(&config, Vec::new()),
            sysroot: dir.join("root"),
            plugins: PluginState::with_systemd(fake, Duration::from_millis(1)),
            config,
        }
    }

    pub(crate) fn temp(tag: &str) -> Scratch {
        Scratch::new(&format!("plugin-{tag}"))
    }

    fn gopher(state: &str) -> Arc<Fake> {
        Arc::new(Fake::default().with_unit(
            "gala-gopher.service",
            &[("LoadState", "loaded"), ("ActiveState", state)],
        ))
    }

    #[test]
    fn unsupported_plugins_are_parameter_errors() {
        let fake = gopher("inactive");
        let dir = temp("unsupported");
        let ctx = ctx_with(fake.clone(), &dir);
        assert!(matches!(start(&ctx, "nginx"), Err(ApiError::Parameter(_))));
        assert!(matches!(stop(&ctx, ""), Err(ApiError::Parameter(_))));
        assert!(
            fake.calls().is_empty(),
            "systemd asked about an unsupported plugin"
        );
    }

    #[test]
    fn start_runs_only_when_needed() {
        let fake = gopher("active");
        let dir = temp("start-active");
        let ctx = ctx_with(fake.clone(), &dir);
        assert_eq!(start(&ctx, "gala-gopher"), Ok(Reply::Success(None)));
        assert_eq!(fake.calls(), ["show gala-gopher.service"]);

        let fake = gopher("failed");
        let dir = temp("start-failed");
        let ctx = ctx_with(fake.clone(), &dir);
        assert_eq!(start(&ctx, "gala-gopher"), Ok(Reply::Success(None)));
        assert_eq!(
            fake.calls(),
            ["show gala-gopher.service", "start gala-gopher.service"]
        );
    }

    #[test]
    fn stop_runs_only_when_needed() {
        let fake = gopher("inactive");
        let dir = temp("stop-inactive");
        let ctx = ctx_with(fake.clone(), &dir);
        assert_eq!(stop(&ctx, "gala-gopher"), Ok(Reply::Success(None)));
        assert_eq!(fake.calls(), ["show gala-gopher.service"]);

        let fake = gopher("active");
        let dir = temp("stop-active");
        let ctx = ctx_with(fake.clone(), &dir);
        assert_eq!(stop(&ctx, "gala-gopher"), Ok(Reply::Success(None)));
        assert_eq!(
            fake.calls(),
            ["show gala-gopher.service", "stop gala-gopher.service"]
        );
    }

    #[test]
    fn not_installed_is_410_for_start_and_stop() {
        let fake = Arc::new(Fake::default());
        let dir = temp("absent");
        let ctx = ctx_with(fake.clone(), &dir);
        assert!(matches!(
            start(&ctx, "gala-gopher"),
            Err(ApiError::NotInstalled(_))
        ));
        assert!(matches!(
            stop(&ctx, "gala-gopher"),
            Err(ApiError::NotInstalled(_))
        ));
        assert!(installed_unit(&ctx, "gala-gopher").is_none());
        assert!(fake.calls().iter().all(|c| c.starts_with("show ")));
    }

    #[test]
    fn a_failed_job_carries_systemds_reason() {
        let fake = gopher("inactive");
        *fake.job_failure.lock().unwrap() = Some("Unit gala-gopher.service is masked.".into());
        let dir = temp("job-fails");
        let ctx = ctx_with(fake.clone(), &dir);
        match start(&ctx, "gala-gopher") {
            Err(ApiError::Failed(why)) => assert!(why.contains("is masked"), "{why}"),
            other => panic!("expected a failure, got {other:?}"),
        }
        let fake = gopher("active");
        *fake.job_failure.lock().unwrap() = Some("Access denied".into());
        let dir = temp("job-fails-stop");
        let ctx = ctx_with(fake, &dir);
        match stop(&ctx, "gala-gopher") {
            Err(ApiError::Failed(why)) => assert!(why.contains("Access denied"), "{why}"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn info_of_a_missing_unit_is_the_fixed_object() {
        let dir = temp("info-absent");
        let ctx = ctx_with(Arc::new(Fake::default()), &dir);
        assert_eq!(
            info(&ctx),
            Ok(Reply::Success(Some(json!([{"plugin_name": "gala-gopher",
                "is_installed": false, "status": null, "collect_items": [], "resource": []}]))))
        );
    }

    fn props(pairs: &[(&str, &str)]) -> UnitProps {
        UnitProps(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn info_from_systemd_accounting() {
        let dir = temp("info-accounting");
        let p = props(&[
            ("LoadState", "loaded"),
            ("ActiveState", "active"),
            ("ControlGroup", "/system.slice/gala-gopher.service"),
            // 3 s of CPU over 1000 s active: 0.3%.
            ("CPUUsageNSec", "3000000000"),
            ("ActiveEnterTimestampMonotonic", "5000000"),
            ("MemoryCurrent", "13950000"),
            ("CPUQuotaPerSecUSec", "200ms"),
            ("MemoryHigh", "41943040"),
        ]);
        let v = plugin_entry("gala-gopher", &p, &dir, json!([]), 1_005_000_000);
        assert_eq!(
            v,
            json!({"plugin_name": "gala-gopher", "is_installed": true, "status": "active",
                "collect_items": [],
                "resource": [
                    {"name": "cpu", "current_value": "0.3%", "limit_value": "20%"},
                    {"name": "memory", "current_value": "13 MB", "limit_value": "40M"}]})
        );
    }

    #[test]
    fn info_falls_back_to_procfs_over_the_group() {
        let dir = temp("info-procfs");
        let cg = dir.join("sys/fs/cgroup/systemd/system.slice/gala-gopher.service");
        std::fs::create_dir_all(&cg).unwrap();
        std::fs::write(cg.join("cgroup.procs"), "41\n42\n").unwrap();
        let ticks = procfs::ticks_per_second();
        let page = procfs::page_size();
        // Each process: 1 s of CPU in ticks, 10 MiB resident.
        let pages = 10 * 1024 * 1024 / page;
        for pid in [41, 42] {
            let d = dir.join("proc").join(pid.to_string());
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("stat"),
                format!(
                    "{pid} (gala-gopher) S 1 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 100 1000 \
                     {pages} 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
                ),
            )
            .unwrap();
        }
        let p = props(&[
            ("LoadState", "loaded"),
            ("ActiveState", "active"),
            ("ControlGroup", "/system.slice/gala-gopher.service"),
            ("CPUUsageNSec", "[not set]"),
            ("ActiveEnterTimestampMonotonic", "1000000"),
            ("MemoryCurrent", "[not set]"),
            ("CPUQuotaPerSecUSec", "infinity"),
            ("MemoryHigh", "infinity"),
        ]);
        // 2 s of CPU over 100 s: 2.0%.
        let v = plugin_entry("gala-gopher", &p, &dir, json!([]), 101_000_000);
        assert_eq!(
            v["resource"],
            json!([{"name": "cpu", "current_value": "2.0%", "limit_value": null},
                   {"name": "memory", "current_value": "20 MB", "limit_value": null}])
        );
    }

    #[test]
    fn nothing_is_measured_unless_active() {
        let dir = temp("info-inactive");
        let p = props(&[
            ("LoadState", "loaded"),
            ("ActiveState", "failed"),
            ("CPUUsageNSec", "3000000000"),
            ("MemoryCurrent", "13950000"),
            ("ActiveEnterTimestampMonotonic", "5000000"),
            ("CPUQuotaPerSecUSec", "1.500000s"),
            ("MemoryHigh", "1073741824"),
        ]);
        let v = plugin_entry("gala-gopher", &p, &dir, json!([]), 1_005_000_000);
        assert_eq!(v["status"], "failed");
        assert_eq!(
            v["resource"],
            json!([{"name": "cpu", "current_value": null, "limit_value": "150%"},
                   {"name": "memory", "current_value": null, "limit_value": "1G"}])
        );
    }

    #[test]
    fn info_asks_systemd_once() {
        let fake = gopher("active");
        let dir = temp("info-once");
        let ctx = ctx_with(fake.clone(), &dir);
        let Ok(Reply::Success(Some(v))) = info(&ctx) else {
            panic!("info failed")
        };
        assert_eq!(v[0]["is_installed"], true);
        assert_eq!(fake.calls(), ["show gala-gopher.service"]);
    }
}
