//! plugin/start, plugin/stop, plugin/info and application/info over HTTP, against a stand-in
//! systemctl that logs every invocation.

mod common;
#[path = "support/standin.rs"]
mod standin;

use common::{Agent, Options, TempDir};
use serde_json::{json, Value};
use standin::Standin;

const UNIT: &str = "gala-gopher.service";

struct Setup {
    dir: TempDir,
    standin: Standin,
    agent: Agent,
}

fn setup_with(tag: &str, gopher_conf: Option<&str>, env: Vec<(String, String)>) -> Setup {
    let dir = TempDir::new(tag);
    let standin = Standin::new(&dir.join("systemd"));
    let conf = dir.join("gala-gopher.conf");
    if let Some(text) = gopher_conf {
        std::fs::write(&conf, text).unwrap();
    }
    let mut all_env = standin.env();
    all_env.extend(env);
    let agent = Agent::start_with(Options {
        extra_conf: format!("[gopher]\nconfig_path={}\n", conf.display()),
        env: all_env,
        ..Options::default()
    });
    Setup {
        dir,
        standin,
        agent,
    }
}

fn setup(tag: &str) -> Setup {
    setup_with(tag, None, Vec::new())
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec passed to it.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

fn post(s: &Setup, path: &str) -> Value {
    s.agent.call("POST", path, None).json()
}

#[test]
fn start_acts_only_when_the_unit_is_not_active() {
    let s = setup("start");
    s.standin.install(UNIT, &[("ActiveState", "inactive")]);
    let v = post(&s, "/v1/agent/plugin/start?plugin_name=gala-gopher");
    assert_eq!(v, json!({"code": 200, "msg": "operate success"}));
    assert_eq!(s.standin.prop(UNIT, "ActiveState"), "active");
    let calls = s.standin.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("show "), "{calls:?}");
    assert_eq!(calls[1], format!("--no-ask-password start {UNIT}"));

    s.standin.clear_calls();
    let v = post(&s, "/v1/agent/plugin/start?plugin_name=gala-gopher");
    assert_eq!(v["code"], 200);
    let calls = s.standin.calls();
    assert_eq!(
        calls.len(),
        1,
        "an active unit must not be started again: {calls:?}"
    );
}

#[test]
fn stop_acts_only_when_the_unit_is_not_inactive() {
    let s = setup("stop");
    s.standin.install(UNIT, &[("ActiveState", "active")]);
    let v = post(&s, "/v1/agent/plugin/stop?plugin_name=gala-gopher");
    assert_eq!(v, json!({"code": 200, "msg": "operate success"}));
    assert_eq!(s.standin.prop(UNIT, "ActiveState"), "inactive");
    assert_eq!(
        s.standin.calls().last().unwrap(),
        &format!("--no-ask-password stop {UNIT}")
    );

    s.standin.clear_calls();
    assert_eq!(
        post(&s, "/v1/agent/plugin/stop?plugin_name=gala-gopher")["code"],
        200
    );
    assert_eq!(s.standin.calls().len(), 1, "{:?}", s.standin.calls());
}

#[test]
fn a_unit_that_is_not_installed_answers_410() {
    let s = setup("absent");
    for verb in ["start", "stop"] {
        let v = post(
            &s,
            &format!("/v1/agent/plugin/{verb}?plugin_name=gala-gopher"),
        );
        assert_eq!(v, json!({"code": 410, "msg": "file not found"}), "{verb}");
    }
    assert!(
        s.standin.calls().iter().all(|c| c.starts_with("show ")),
        "only queries for a missing unit: {:?}",
        s.standin.calls()
    );
}

#[test]
fn a_failed_job_answers_500_and_logs_systemds_reason() {
    let s = setup("fails");
    s.standin.install(UNIT, &[("ActiveState", "inactive")]);
    let reason =
        "Job for gala-gopher.service failed because the control process exited with error code.";
    s.standin.fail("start", reason);
    let v = post(&s, "/v1/agent/plugin/start?plugin_name=gala-gopher");
    assert_eq!(v, json!({"code": 500, "msg": "unknown error"}));
    s.agent
        .wait_for_log(reason, std::time::Duration::from_secs(5));

    s.standin.install(UNIT, &[("ActiveState", "active")]);
    s.standin.fail("stop", "Access denied");
    let v = post(&s, "/v1/agent/plugin/stop?plugin_name=gala-gopher");
    assert_eq!(v["code"], 500);
    s.agent
        .wait_for_log("Access denied", std::time::Duration::from_secs(5));
}

#[test]
fn parameter_shape_and_token_checks_come_before_systemd() {
    let s = setup("params");
    s.standin.install(UNIT, &[("ActiveState", "inactive")]);
    for verb in ["start", "stop"] {
        let v = post(&s, &format!("/v1/agent/plugin/{verb}?plugin_name=nginx"));
        assert_eq!(v, json!({"code": 1000, "msg": "parameter error"}));
        let r = s
            .agent
            .call("POST", &format!("/v1/agent/plugin/{verb}"), None);
        assert_eq!(r.status, 400);
        let r = s.agent.request(
            "POST",
            &format!("/v1/agent/plugin/{verb}?plugin_name=gala-gopher"),
            Some("wrong"),
            None,
        );
        assert_eq!(r.json()["code"], 1201);
        let r = s
            .agent
            .request("GET", "/v1/agent/plugin/info", Some("wrong"), None);
        assert_eq!(r.json()["code"], 1201);
        let r = s
            .agent
            .call("GET", &format!("/v1/agent/plugin/{verb}"), None);
        assert_eq!(r.status, 405);
    }
    assert!(s.standin.calls().is_empty(), "{:?}", s.standin.calls());
    assert_eq!(s.standin.prop(UNIT, "ActiveState"), "inactive");
}

#[test]
fn info_of_a_unit_that_is_not_installed() {
    let s = setup("info-absent");
    let r = s.agent.call("GET", "/v1/agent/plugin/info", None);
    assert_eq!(
        r.text(),
        r#"{"code":200,"msg":"operate success","resp":[{"collect_items":[],"is_installed":false,"plugin_name":"gala-gopher","resource":[],"status":null}]}"#
    );
    assert_eq!(s.standin.calls().len(), 1);
}

#[test]
fn info_reports_state_usage_and_limits_with_one_process() {
    let s = setup("info-active");
    let since = monotonic_usec() - 100_000_000;
    s.standin.install(
        UNIT,
        &[
            ("ActiveState", "active"),
            ("ControlGroup", "/system.slice/gala-gopher.service"),
            // 3 s of CPU over the 100 s since it became active: 3.0%.
            ("CPUUsageNSec", "3000000000"),
            ("ActiveEnterTimestampMonotonic", &since.to_string()),
            ("MemoryCurrent", "13950000"),
            ("CPUQuotaPerSecUSec", "200ms"),
            ("MemoryHigh", "41943040"),
        ],
    );
    let v = s.agent.call("GET", "/v1/agent/plugin/info", None).json();
    assert_eq!(
        v,
        json!({"code": 200, "msg": "operate success", "resp": [{
            "plugin_name": "gala-gopher", "is_installed": true, "status": "active",
            "collect_items": [],
            "resource": [
                {"name": "cpu", "current_value": "3.0%", "limit_value": "20%"},
                {"name": "memory", "current_value": "13 MB", "limit_value": "40M"}]}]})
    );
    let calls = s.standin.calls();
    assert_eq!(calls.len(), 1, "one systemctl per plugin/info: {calls:?}");
    assert!(calls[0].contains("CPUUsageNSec") && calls[0].contains("MemoryHigh"));

    // Not active: no current figures, limits still shown.
    s.standin.install(
        UNIT,
        &[
            ("ActiveState", "failed"),
            ("CPUUsageNSec", "3000000000"),
            ("MemoryCurrent", "13950000"),
            ("CPUQuotaPerSecUSec", "infinity"),
            ("MemoryHigh", "1073741824"),
        ],
    );
    let v = s.agent.call("GET", "/v1/agent/plugin/info", None).json();
    assert_eq!(v["resp"][0]["status"], "failed");
    assert_eq!(
        v["resp"][0]["resource"],
        json!([{"name": "cpu", "current_value": null, "limit_value": null},
               {"name": "memory", "current_value": null, "limit_value": "1G"}])
    );
}

#[test]
fn info_sums_procfs_over_the_group_where_systemd_has_no_figures() {
    let root = TempDir::new("sysroot");
    let cg = root.join("sys/fs/cgroup/unified/system.slice/gala-gopher.service");
    std::fs::create_dir_all(&cg).unwrap();
    std::fs::write(cg.join("cgroup.procs"), "300\n301\n").unwrap();
    // SAFETY: sysconf has no side effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let pages = 8 * 1024 * 1024 / page;
    for pid in [300, 301] {
        let d = root.join(&format!("proc/{pid}"));
        std::fs::create_dir_all(&d).unwrap();
        // Two seconds of CPU (user + system) and 8 MiB resident each.
        std::fs::write(
            d.join("stat"),
            format!(
                "{pid} (gala-gopher) S 1 1 1 0 -1 0 0 0 0 0 {ticks} {ticks} 0 0 20 0 1 0 100 1000 \
                 {pages} 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
            ),
        )
        .unwrap();
    }
    let s = setup_with(
        "info-procfs",
        None,
        vec![(
            "AOPS_AGENT_SYSROOT".into(),
            root.path().display().to_string(),
        )],
    );
    let since = monotonic_usec() - 200_000_000;
    s.standin.install(
        UNIT,
        &[
            ("ActiveState", "active"),
            ("ControlGroup", "/system.slice/gala-gopher.service"),
            ("CPUUsageNSec", "[not set]"),
            ("ActiveEnterTimestampMonotonic", &since.to_string()),
            ("MemoryCurrent", "[not set]"),
            ("CPUQuotaPerSecUSec", "1.500000s"),
            ("MemoryHigh", "infinity"),
        ],
    );
    let v = s.agent.call("GET", "/v1/agent/plugin/info", None).json();
    // 4 s over 200 s: 2.0%; 16 MiB.
    assert_eq!(
        v["resp"][0]["resource"],
        json!([{"name": "cpu", "current_value": "2.0%", "limit_value": "150%"},
               {"name": "memory", "current_value": "16 MB", "limit_value": null}])
    );
}

#[test]
fn info_lists_the_probes_of_the_configuration_file() {
    let fixture = include_str!("fixtures/gala-gopher/gala-gopher.2023-06-17.conf");
    let s = setup_with("info-probes", Some(fixture), Vec::new());
    s.standin.install(UNIT, &[("ActiveState", "inactive")]);
    let v = s.agent.call("GET", "/v1/agent/plugin/info", None).json();
    let items = v["resp"][0]["collect_items"].as_array().unwrap().clone();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["probe_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 24, "{names:?}");
    assert_eq!(
        &names[..5],
        [
            "example",
            "system_infos",
            "virtualized_infos",
            "event",
            "pg_stat_probe"
        ]
    );
    assert_eq!(
        items[4],
        json!({"probe_name": "pg_stat_probe", "probe_status": "auto", "support_auto": true})
    );
    assert_eq!(
        items[1],
        json!({"probe_name": "system_infos", "probe_status": "on", "support_auto": false})
    );

    // An unparsable file lists nothing.
    std::fs::write(s.dir.join("gala-gopher.conf"), "probes = ( {").unwrap();
    let v = s.agent.call("GET", "/v1/agent/plugin/info", None).json();
    assert_eq!(v["resp"][0]["collect_items"], json!([]));
    assert_eq!(v["resp"][0]["is_installed"], true);
}

#[test]
fn application_info_asks_systemd_once_and_keeps_the_order() {
    let s = setup("apps");
    let r = s.agent.call("GET", "/v1/agent/application/info", None);
    assert_eq!(
        r.text(),
        r#"{"code":200,"msg":"operate success","resp":{"running":[]}}"#
    );
    assert_eq!(s.standin.calls().len(), 1);

    for unit in ["gala-gopher", "mariadb", "kubelet", "docker"] {
        s.standin
            .install(&format!("{unit}.service"), &[("ActiveState", "active")]);
    }
    s.standin
        .install("nginx.service", &[("ActiveState", "inactive")]);
    s.standin.clear_calls();
    let v = s
        .agent
        .call("GET", "/v1/agent/application/info", None)
        .json();
    assert_eq!(
        v["resp"],
        json!({"running": ["mysql", "kubernetes", "docker", "gala-gopher"]})
    );
    let calls = s.standin.calls();
    assert_eq!(calls.len(), 1, "one systemctl for every target: {calls:?}");
    for unit in [
        "mysqld.service",
        "kubelet.service",
        "hadoop.service",
        "nginx.service",
    ] {
        assert!(calls[0].contains(unit), "{unit} not asked: {calls:?}");
    }

    let r = s.agent.call("POST", "/v1/agent/application/info", None);
    assert_eq!(r.status, 405);
}

#[test]
fn a_systemctl_that_cannot_run_is_a_server_error() {
    let s = setup_with(
        "no-systemctl",
        None,
        vec![(
            "AOPS_AGENT_SYSTEMCTL".into(),
            "/nonexistent/systemctl".into(),
        )],
    );
    let v = s
        .agent
        .call("GET", "/v1/agent/application/info", None)
        .json();
    assert_eq!(v, json!({"code": 500, "msg": "unknown error"}));
    let v = post(&s, "/v1/agent/plugin/start?plugin_name=gala-gopher");
    assert_eq!(v["code"], 500);
    s.agent
        .wait_for_log("/nonexistent/systemctl", std::time::Duration::from_secs(5));
}
