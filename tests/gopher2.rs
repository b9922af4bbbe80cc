//! Probe control of gala-gopher 2.x through the real binary: plugin/info and
//! collect/items/change against the gala-gopher stand-in of each release (REST and gopher-ctl),
//! with the systemctl stand-in saying whether gala-gopher runs and whether its unit saves probe
//! state at stop. Checked: the exact documents sent, that nothing is restarted, probes.init
//! byte for byte, concurrency, bounds on a hung gopher-ctl, and that the agent serves on.

mod common;
#[path = "support/gopher2.rs"]
mod gopher2;
#[path = "support/standin.rs"]
mod standin;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aops_agent::gopher::catalogue;
use common::{Agent, Options, TempDir};
use gopher2::{GopherOptions, GopherStandin};
use serde_json::{json, Value};
use standin::Standin;

const UNIT: &str = "gala-gopher.service";
const INFO: &str = "/v1/agent/plugin/info";
const CHANGE: &str = "/v1/agent/collect/items/change";
const TEMPLATE: &str = include_str!("fixtures/gala-gopher/2.x/probes.init");
/// What systemd shows for 2.0.2's `ExecStop=` (init_probes.sh --save).
const EXEC_STOP: &str =
    "{ path=/bin/bash ; argv[]=/bin/bash /usr/libexec/gala-gopher/init_probes.sh \
                         --save ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; \
                         code=(null) ; status=0/0 }";

fn conf_fixture(flavour: &str) -> &'static str {
    match flavour {
        "2.0.0" => include_str!("fixtures/gala-gopher/2.x/gala-gopher.2023-10-07.conf"),
        "2.0.1" => include_str!("fixtures/gala-gopher/2.x/gala-gopher.2024-04-24.conf"),
        "2.0.2" => include_str!("fixtures/gala-gopher/2.x/gala-gopher.2024-10-30.conf"),
        _ => include_str!("fixtures/gala-gopher/2.x/gala-gopher.2026-07-27.conf"),
    }
}

#[derive(Clone, Copy)]
struct Host {
    /// gopher-ctl installed (2.0.2 and master only).
    ctl: bool,
    /// REST on in the configuration and served by the daemon.
    rest: bool,
    /// systemd says gala-gopher is active.
    running: bool,
    /// The unit has an `ExecStop=` that saves probe state (2.0.2 and master).
    saves: bool,
}

struct Setup {
    dir: TempDir,
    systemd: Standin,
    gopher: GopherStandin,
    conf: PathBuf,
    init: PathBuf,
    host: Host,
    extra_env: Vec<(String, String)>,
}

impl Setup {
    fn new(tag: &str, flavour: &str, host: Host) -> Setup {
        Setup::with_options(tag, flavour, host, GopherOptions::default())
    }

    fn with_options(tag: &str, flavour: &str, host: Host, mut opts: GopherOptions) -> Setup {
        let dir = TempDir::new(tag);
        let systemd = Standin::new(&dir.join("systemd"));
        let state = if host.running { "active" } else { "inactive" };
        let exec_stop = if host.saves { EXEC_STOP } else { "" };
        systemd.install(UNIT, &[("ActiveState", state), ("ExecStop", exec_stop)]);
        opts.no_rest = !host.rest;
        let gopher = GopherStandin::start(flavour, &dir.join("gopher"), opts);
        let etc = dir.join("etc-gala-gopher");
        std::fs::create_dir_all(&etc).unwrap();
        let mut text = conf_fixture(flavour).to_string();
        if let Some(port) = gopher.rest_port_opt() {
            text = text.replace("port = 9999;", &format!("port = {port};"));
        }
        if !host.rest {
            text = text.replace("rest_api_on = true;", "rest_api_on = false;");
        }
        let conf = etc.join("gala-gopher.conf");
        std::fs::write(&conf, text).unwrap();
        let init = etc.join("probes.init");
        std::fs::write(&init, TEMPLATE).unwrap();
        Setup {
            dir,
            systemd,
            gopher,
            conf,
            init,
            host,
            extra_env: Vec::new(),
        }
    }

    fn agent(&self) -> Agent {
        let mut env = self.systemd.env();
        if self.host.ctl {
            env.extend(self.gopher.ctl_env());
        } else {
            env.push((
                "AOPS_AGENT_GOPHER_CTL".into(),
                self.dir.join("no-gopher-ctl").display().to_string(),
            ));
        }
        env.extend(self.extra_env.iter().cloned());
        Agent::start_with(Options {
            extra_conf: format!("[gopher]\nconfig_path={}\n", self.conf.display()),
            env,
            ..Options::default()
        })
    }

    fn init_text(&self) -> String {
        std::fs::read_to_string(&self.init).unwrap()
    }

    fn no_restart(&self) {
        let calls = self.systemd.calls();
        assert!(
            calls
                .iter()
                .all(|c| !c.contains("restart") && !c.contains(" start") && !c.contains(" stop")),
            "gala-gopher was restarted, started or stopped: {calls:?}"
        );
    }
}

fn items(agent: &Agent) -> Vec<(String, String)> {
    let r = agent.call("GET", INFO, None);
    assert_eq!(r.code(), 200, "{}", r.text());
    let v = r.json();
    v["resp"][0]["collect_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["probe_name"].as_str().unwrap().to_string(),
                i["probe_status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn change(agent: &Agent, body: Value) -> (Vec<String>, Vec<String>) {
    let r = agent.call("POST", CHANGE, Some(&body.to_string()));
    assert_eq!(r.code(), 200, "{}", r.text());
    let v = r.json();
    let list = |k: &str| -> Vec<String> {
        v["resp"]["gala-gopher"][k]
            .as_array()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    (list("success"), list("failure"))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The names the stand-in answers for, asked directly in the agent's order, for comparison.
fn answered(setup: &Setup) -> Vec<String> {
    catalogue::all_names()
        .filter(|n| exists(setup, n))
        .map(str::to_string)
        .collect()
}

/// Whether the stand-in has a probe of that name (asked directly, not through the agent).
fn exists(setup: &Setup, name: &str) -> bool {
    match setup.gopher.rest_port_opt() {
        Some(_) => {
            common::request(
                &setup.gopher.rest_addr(),
                "GET",
                &format!("/{name}"),
                None,
                None,
            )
            .status
                == 200
        }
        None => {
            let o = setup.gopher.ctl(&["probe", "get", name], &[]);
            !String::from_utf8_lossy(&o.stdout).contains("\"failed\"")
        }
    }
}

const REST_ONLY: Host = Host {
    ctl: false,
    rest: true,
    running: true,
    saves: false,
};

#[test]
fn every_release_lists_the_probes_it_answers_for_over_rest() {
    for flavour in gopher2::FLAVOURS {
        let s = Setup::new(
            "g2-list",
            flavour,
            Host {
                saves: matches!(flavour, "2.0.2" | "master"),
                ..REST_ONLY
            },
        );
        let agent = s.agent();
        let want = answered(&s);
        s.gopher.clear_requests();
        let got = items(&agent);
        assert_eq!(
            got.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            want,
            "{flavour}"
        );
        assert!(got.iter().all(|(_, st)| st == "off"), "{flavour}: {got:?}");
        let raw = agent.call("GET", INFO, None).json();
        assert!(
            raw["resp"][0]["collect_items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["support_auto"] == false),
            "{flavour}: 2.x has no start check"
        );
        assert!(
            s.gopher.changes().is_empty(),
            "{flavour}: listing changed something"
        );
        assert!(
            s.gopher
                .requests()
                .iter()
                .all(|r| r.channel == "rest" && r.method == "GET"),
            "{flavour}"
        );
        s.no_restart();
        agent.wait_for_log("gala-gopher probe control: rest", Duration::from_secs(5));
        // Said once at start, not again for every request that finds the same.
        assert_eq!(
            agent
                .log_text()
                .matches("gala-gopher probe control:")
                .count(),
            1
        );
    }
}

const CTL_ONLY: Host = Host {
    ctl: true,
    rest: false,
    running: true,
    saves: true,
};

#[test]
fn gopher_ctl_alone_lists_and_switches_with_no_restart() {
    let s = Setup::new("g2-ctl", "master", CTL_ONLY);
    let agent = s.agent();
    let listed = items(&agent);
    assert_eq!(listed.len(), 21, "{listed:?}");
    assert!(listed.iter().any(|(n, st)| n == "tcp" && st == "off"));
    // Every read went through gopher-ctl, one process per name asked: the names of 2.0.2 and
    // later, since gopher-ctl came with 2.0.2.
    let reads = s.gopher.ctl_invocations();
    assert_eq!(reads.len(), 21, "{reads:?}");
    assert!(reads.iter().all(|a| a[..2] == ["probe", "get"]));

    s.gopher.clear_requests();
    let (ok, failed) = change(&agent, json!({"gala-gopher": {"tcp": "on", "ksli": "on"}}));
    assert_eq!((ok, failed), (names(&["ksli", "tcp"]), names(&[])));
    let sets: Vec<(String, String)> = s
        .gopher
        .changes()
        .iter()
        .map(|r| (r.probe.clone(), r.body_text()))
        .collect();
    assert_eq!(
        sets,
        [
            ("ksli".to_string(), "{\"state\":\"running\"}".to_string()),
            (
                "tcp".to_string(),
                "{\"blacklist\":{},\"cmd\":{\"probe\":[\"tcp_abnormal\",\"tcp_rtt\",\"tcp_windows\",\
                 \"tcp_srtt\",\"tcp_rate\",\"tcp_sockbuf\",\"tcp_stats\",\"tcp_delay\"]},\"state\":\
                 \"running\"}"
                    .to_string()
            ),
        ]
    );
    assert_eq!(s.gopher.probe_state("tcp").as_deref(), Some("running"));
    let listed = items(&agent);
    assert!(
        listed.contains(&("tcp".to_string(), "on".to_string())),
        "{listed:?}"
    );
    // A unit that saves state at stop: probes.init is gala-gopher's to write.
    assert_eq!(s.init_text(), TEMPLATE);
    // Off for a probe that is not running needs no call; auto always fails.
    s.gopher.clear_requests();
    let (ok, failed) = change(&agent, json!({"gala-gopher": {"io": "off", "jvm": "auto"}}));
    assert_eq!((ok, failed), (names(&["io"]), names(&["jvm"])));
    assert!(s.gopher.changes().is_empty());
    agent.wait_for_log(
        "\"jvm\" not switched: gala-gopher 2.x has no start check",
        Duration::from_secs(5),
    );
    s.no_restart();
}

#[test]
fn an_older_build_refusing_a_sub_item_gets_the_document_again_without_it() {
    // 2.0.1 lacks proc's proc_pygc; it has no gopher-ctl and no ExecStop.
    let s = Setup::new("g2-201", "2.0.1", REST_ONLY);
    std::fs::set_permissions(&s.init, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&s.init, Some(4242), Some(4343)).unwrap();
    let agent = s.agent();
    let (ok, failed) = change(&agent, json!({"gala-gopher": {"proc": "on", "sli": "on"}}));
    assert_eq!(
        (ok, failed),
        (names(&["proc"]), names(&["sli"])),
        "{}",
        agent.log_text()
    );
    let puts = s.gopher.changes();
    let full = "[\"proc_syscall\",\"proc_fs\",\"proc_dns\",\"proc_io\",\"proc_pagecache\",\
                \"proc_net\",\"proc_offcpu\",\"proc_ioctl\"";
    assert_eq!(puts.len(), 2, "{puts:#?}");
    assert_eq!(
        puts[0].body_text(),
        format!("json={{\"blacklist\":{{}},\"cmd\":{{\"probe\":{full},\"proc_pygc\"]}},\"state\":\"running\"}}")
    );
    assert_eq!(puts[0].status, Some(400));
    assert!(
        puts[0].reply.contains("unsupported probe range: proc_pygc"),
        "{}",
        puts[0].reply
    );
    assert_eq!(
        puts[1].body_text(),
        format!("json={{\"blacklist\":{{}},\"cmd\":{{\"probe\":{full}]}},\"state\":\"running\"}}")
    );
    assert_eq!(
        puts[1].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(puts[1].status, Some(200));
    // sli is a name 2.0.1 does not have (404).
    agent.wait_for_log(
        "\"sli\" not switched: this gala-gopher has no probe sli",
        Duration::from_secs(5),
    );
    // No ExecStop: the change is written to probes.init too, every other byte kept.
    let init = s.init_text();
    assert!(init.starts_with(TEMPLATE), "{init}");
    let added = &init[TEMPLATE.len()..];
    assert!(added.starts_with("\nproc {"), "{added}");
    assert!(
        added.ends_with("\"state\":\"running\"}\n") && added.lines().count() == 2,
        "{added}"
    );
    assert!(!added[1..].contains(char::is_whitespace) || added[6..].trim_end().find(' ').is_none());
    let meta = std::fs::metadata(&s.init).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o640, 4242, 4343)
    );
    assert_eq!(s.gopher.probe_state("proc").as_deref(), Some("running"));
    s.no_restart();
}

#[test]
fn release_2_0_2_refuses_tcp_without_snoopers_and_the_reason_is_logged() {
    let s = Setup::new(
        "g2-202",
        "2.0.2",
        Host {
            rest: true,
            ..CTL_ONLY
        },
    );
    let agent = s.agent();
    let (ok, failed) = change(&agent, json!({"gala-gopher": {"tcp": "on", "io": "on"}}));
    assert_eq!((ok, failed), (names(&["io"]), names(&["tcp"])));
    agent.wait_for_log(
        "\"tcp\" not switched: gala-gopher refused",
        Duration::from_secs(5),
    );
    // Reads went through REST, changes through gopher-ctl.
    let reqs = s.gopher.requests();
    assert!(
        reqs.iter()
            .filter(|r| r.method == "GET")
            .all(|r| r.channel == "rest"),
        "{reqs:#?}"
    );
    assert!(reqs.iter().filter(|r| r.method == "set").count() >= 2);
    assert!(
        reqs.iter().all(|r| r.method != "PUT"),
        "a change went over REST"
    );
    agent.wait_for_log("probes read through REST", Duration::from_secs(5));
    s.no_restart();
}

#[test]
fn release_2_0_0_records_live_changes_in_probes_init() {
    let s = Setup::new("g2-200", "2.0.0", REST_ONLY);
    std::fs::write(
        &s.init,
        format!("{TEMPLATE}\n\r\nio {{\"state\": \"stopped\"}}\r\n"),
    )
    .unwrap();
    let agent = s.agent();
    let (ok, failed) = change(
        &agent,
        json!({"gala-gopher": {"io": "on", "flamegraph": "on"}}),
    );
    assert_eq!(
        (ok, failed),
        (names(&["flamegraph", "io"]), names(&[])),
        "{}",
        agent.log_text()
    );
    let init = s.init_text();
    let lines: Vec<&str> = init.split('\n').collect();
    assert_eq!(
        lines[..3],
        TEMPLATE.split('\n').collect::<Vec<_>>()[..],
        "{init}"
    );
    assert!(
        lines[3] == "\r" && lines[4].starts_with("io {") && lines[4].ends_with("}\r"),
        "{init}"
    );
    assert!(lines[4].contains("\"state\":\"running\""), "{init}");
    assert!(
        lines[5].starts_with("flamegraph {\"blacklist\":{},\"cmd\":{\"probe\":["),
        "{init}"
    );
    assert_eq!(lines.len(), 7, "{init}");
    // 2.0.0 decoded the form; what it got is what the agent sent.
    for r in s.gopher.changes() {
        assert!(r.body_text().starts_with("json={"), "{r:?}");
    }
}

#[test]
fn stopped_gala_gopher_changes_go_into_probes_init_lines_only() {
    let s = Setup::new(
        "g2-stopped",
        "master",
        Host {
            running: false,
            ..CTL_ONLY
        },
    );
    let before = format!("{TEMPLATE}\ntcp {{\"cmd\":{{\"probe\":[\"tcp_rtt\"]}},\"blacklist\":{{}},\"state\":\"running\"}}\n");
    std::fs::write(&s.init, &before).unwrap();
    let agent = s.agent();
    let listed = items(&agent);
    assert!(listed.contains(&("tcp".into(), "on".into())), "{listed:?}");
    assert!(listed.contains(&("io".into(), "off".into())), "{listed:?}");
    let (ok, failed) = change(
        &agent,
        json!({"gala-gopher": {"tcp": "off", "io": "off", "jvm": "on"}}),
    );
    assert_eq!((ok, failed), (names(&["io", "tcp"]), names(&["jvm"])));
    agent.wait_for_log(
        "start gala-gopher, then switch jvm on",
        Duration::from_secs(5),
    );
    assert_eq!(
        s.init_text(),
        format!("{TEMPLATE}\ntcp {{\"blacklist\":{{}},\"cmd\":{{\"probe\":[\"tcp_rtt\"]}},\"state\":\"stopped\"}}\n")
    );
    assert!(
        s.gopher.requests().is_empty(),
        "a stopped gala-gopher was asked"
    );
    assert!(s.gopher.ctl_invocations().is_empty());
    // Started, gala-gopher replays the line; the agent now reads the daemon.
    assert_eq!(s.gopher.init_probes("--replay", &s.init).code(), Some(0));
    s.systemd
        .install(UNIT, &[("ActiveState", "active"), ("ExecStop", EXEC_STOP)]);
    let listed = items(&agent);
    assert!(listed.contains(&("tcp".into(), "off".into())), "{listed:?}");
    assert_eq!(s.gopher.live_state()["tcp"]["probe"], json!(["tcp_rtt"]));
    s.no_restart();
}

#[test]
fn twenty_concurrent_changes_of_distinct_probes_are_all_applied() {
    let s = Setup::new("g2-concurrent", "master", CTL_ONLY);
    let agent = Arc::new(s.agent());
    // 20 of master's 21 built-in probes.
    let probes: Vec<&str> = catalogue::BUILTIN[..20].to_vec();
    let threads: Vec<_> = probes
        .iter()
        .map(|p| {
            let agent = Arc::clone(&agent);
            let p = p.to_string();
            std::thread::spawn(move || change(&agent, json!({"gala-gopher": {p.clone(): "on"}})))
        })
        .collect();
    let mut ok = Vec::new();
    for t in threads {
        let (s, f) = t.join().unwrap();
        assert!(f.is_empty(), "failed: {f:?}\n{}", agent.log_text());
        ok.extend(s);
    }
    ok.sort();
    let mut want: Vec<String> = names(&probes);
    want.sort();
    assert_eq!(ok, want);
    for p in &probes {
        assert_eq!(s.gopher.probe_state(p).as_deref(), Some("running"), "{p}");
    }
    // One change at a time: each probe's read came right before its own change.
    let reqs: Vec<_> = s
        .gopher
        .requests()
        .into_iter()
        .filter(|r| probes.contains(&r.probe.as_str()))
        .collect();
    for w in reqs.windows(2) {
        if w[1].method == "set" {
            assert_eq!(
                w[0].probe, w[1].probe,
                "a change interleaved with another: {w:#?}"
            );
        }
    }
    s.no_restart();
}

#[test]
fn a_hung_gopher_ctl_is_killed_at_the_bound_and_the_agent_serves_on() {
    let mut s = Setup::new("g2-hang", "master", CTL_ONLY);
    s.extra_env = vec![
        ("GOPHER_STANDIN_HANG".into(), "1".into()),
        ("AOPS_AGENT_GOPHER_TIMEOUT_MS".into(), "700".into()),
    ];
    let agent = s.agent();
    let started = Instant::now();
    let (ok, failed) = change(&agent, json!({"gala-gopher": {"tcp": "on"}}));
    assert_eq!((ok, failed), (names(&[]), names(&["tcp"])));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    agent.wait_for_log("was killed", Duration::from_secs(5));
    // Listing: 25 reads of 0.7 s, 8 at a time, then probes.init's states.
    let started = Instant::now();
    let listed = items(&agent);
    assert_eq!(listed.len(), 21);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // None of the hung processes is left.
    std::thread::sleep(Duration::from_millis(200));
    let marker = s.gopher.ctl_log_path().display().to_string();
    let me = agent.child.id().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.file_name()? == me.as_str() {
                return None;
            }
            let env = std::fs::read(p.join("environ")).ok()?;
            String::from_utf8_lossy(&env)
                .contains(&marker)
                .then(|| p.display().to_string())
        })
        .collect();
    assert!(left.is_empty(), "hung gopher-ctl processes left: {left:?}");
    assert_eq!(agent.call("GET", "/v1/agent/host/info", None).code(), 200);
}

#[test]
fn gala_gopher_down_fails_changes_with_gopher_ctls_reason() {
    let mut s = Setup::new("g2-down", "2.0.2", CTL_ONLY);
    s.gopher.stop();
    let agent = s.agent();
    let (ok, failed) = change(&agent, json!({"gala-gopher": {"io": "on"}}));
    assert_eq!((ok, failed), (names(&[]), names(&["io"])));
    agent.wait_for_log(
        "Failed to connect to gopher cmd server",
        Duration::from_secs(5),
    );
    // Listed from probes.init, with a warning saying why.
    assert_eq!(items(&agent).len(), 21);
    agent.wait_for_log("cannot be asked", Duration::from_secs(5));
    assert_eq!(agent.call("GET", "/v1/agent/host/info", None).code(), 200);
}

#[test]
fn an_upgrade_under_a_running_agent_is_noticed() {
    // A 1.x host: the file generation.
    let s = Setup::new("g2-upgrade", "master", CTL_ONLY);
    let old = include_str!("fixtures/gala-gopher/gala-gopher.2023-06-17.conf");
    std::fs::write(&s.conf, old).unwrap();
    let mut env = s.systemd.env();
    env.push((
        "AOPS_AGENT_GOPHER_CTL".into(),
        s.dir.join("gopher-ctl").display().to_string(),
    ));
    env.extend(
        s.gopher
            .ctl_env()
            .into_iter()
            .filter(|(k, _)| k != "AOPS_AGENT_GOPHER_CTL"),
    );
    let agent = Agent::start_with(Options {
        extra_conf: format!("[gopher]\nconfig_path={}\n", s.conf.display()),
        env,
        ..Options::default()
    });
    let before = items(&agent);
    assert!(before.iter().any(|(n, _)| n == "redis"), "{before:?}");
    agent.wait_for_log("gala-gopher probe control: file", Duration::from_secs(5));
    // gala-gopher 2.x is installed: gopher-ctl appears, the old file stays (noreplace).
    std::os::unix::fs::symlink(gopher2::ctl_program(), s.dir.join("gopher-ctl")).unwrap();
    let after = items(&agent);
    assert_eq!(after.len(), 21, "{after:?}");
    agent.wait_for_log(
        "gala-gopher probe control: gopher-ctl",
        Duration::from_secs(5),
    );
    assert_eq!(std::fs::read_to_string(&s.conf).unwrap(), old);
    s.no_restart();
}
