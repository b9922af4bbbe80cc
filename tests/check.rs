//! `aops_agent check` against temporary configurations, a stand-in systemctl, journalctl and
//! firewall-cmd, and real listening sockets: a healthy host passes; each broken item alone
//! turns exactly its own line to FAIL, with its fix; --json carries the same verdicts; a hung
//! systemctl or firewall-cmd does not hold the check.

#[path = "support/check_tools.rs"]
mod check_tools;
mod common;
#[path = "support/gopher2.rs"]
mod gopher2;
#[path = "support/standin.rs"]
mod standin;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use check_tools::Tools;
use common::TempDir;
use serde_json::Value;
use standin::Standin;

const IDS: &[&str] = &[
    "agent.conf",
    "token",
    "socket.enabled",
    "socket.active",
    "socket.address",
    "service",
    "allow_from",
    "firewall",
    "gala-gopher",
    "gala-gopher.conf",
    "gala-gopher.generation",
    "gala-gopher.channel",
];

/// One line of the text report: status, id, summary, and the fix below it.
#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    status: String,
    id: String,
    summary: String,
    fix: Option<String>,
    details: Vec<String>,
}

struct Host {
    /// Holds every file of the host; removed when the test ends.
    _dir: TempDir,
    systemd: Standin,
    tools: Tools,
    conf: PathBuf,
    token: PathBuf,
    gopher_conf: PathBuf,
    /// The socket systemd would hold, on the port agent.conf names.
    listener: Option<TcpListener>,
    port: u16,
}

fn assert_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests run as root (as CI does): the token file must be root's"
    );
}

impl Host {
    /// Everything as it should be on a registered host reachable on 0.0.0.0:PORT.
    fn healthy(tag: &str) -> Host {
        assert_root();
        let dir = TempDir::new(&format!("check-{tag}"));
        let systemd = Standin::new(&dir.join("systemd"));
        let tools = Tools::new(&dir.join("tools"));
        let listener = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let token = dir.join("agent_token.json");
        std::fs::write(&token, r#"{"access_token": "secret-token-value"}"#).unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let gopher_conf = dir.join("gala-gopher.conf");
        std::fs::write(&gopher_conf, "probes = ();\n").unwrap();
        let conf = dir.join("agent.conf");
        let host = Host {
            _dir: dir,
            systemd,
            tools,
            conf,
            token,
            gopher_conf,
            listener: Some(listener),
            port,
        };
        host.write_conf("");
        let listen = format!("0.0.0.0:{port} (Stream)");
        host.systemd.install(
            "aops-agent.socket",
            &[
                ("UnitFileState", "enabled"),
                ("ActiveState", "active"),
                ("SubState", "listening"),
                ("Result", "success"),
                ("Listen", &listen),
            ],
        );
        host.systemd.install(
            "aops-agent.service",
            &[
                ("UnitFileState", "static"),
                ("ActiveState", "inactive"),
                ("SubState", "dead"),
                ("Result", "success"),
                ("NRestarts", "0"),
            ],
        );
        host.systemd.install(
            "gala-gopher.service",
            &[
                ("UnitFileState", "disabled"),
                ("ActiveState", "active"),
                ("SubState", "running"),
                ("Result", "success"),
            ],
        );
        host.systemd.install(
            "firewalld.service",
            &[
                ("UnitFileState", "enabled"),
                ("ActiveState", "active"),
                ("SubState", "running"),
            ],
        );
        host.tools.zone(
            "public",
            "eth0",
            "ssh dhcpv6-client",
            &format!("{port}/tcp"),
        );
        host
    }

    /// agent.conf with the healthy values, then `extra` lines.
    fn write_conf(&self, extra: &str) {
        self.write_conf_raw(&format!(
            "[agent]\nip=0.0.0.0\nport={}\ntoken_file={}\nallow_from=192.0.2.10\n\
             [gopher]\nconfig_path={}\n[log]\nlog_level=INFO\n{extra}",
            self.port,
            self.token.display(),
            self.gopher_conf.display()
        ));
    }

    fn write_conf_raw(&self, text: &str) {
        std::fs::write(&self.conf, text).unwrap();
    }

    fn command(&self, json: bool) -> Command {
        let mut cmd = common::target_command(common::BIN);
        cmd.arg("-c").arg(&self.conf).arg("check");
        if json {
            cmd.arg("--json");
        }
        for (k, v) in self.systemd.env().into_iter().chain(self.tools.env()) {
            cmd.env(k, v);
        }
        cmd.env_remove("AOPS_AGENT_SYSROOT");
        cmd
    }

    /// Runs `check`: exit code, the parsed text report, and the raw text.
    fn check(&self) -> (i32, Vec<Verdict>, String) {
        let out = self.command(false).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        (out.status.code().unwrap_or(-1), parse(&text), text)
    }

    fn check_json(&self) -> (i32, Value) {
        let out = self.command(true).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("--json output is not JSON ({e}): {text}"));
        (out.status.code().unwrap_or(-1), v)
    }
}

/// The text report back into verdicts: a status word at the start of a line opens one,
/// indented lines below belong to it.
fn parse(text: &str) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = Vec::new();
    for line in text.lines() {
        let mut words = line.splitn(2, ' ');
        let first = words.next().unwrap_or("");
        if ["ok", "warn", "FAIL"].contains(&first) {
            let rest = words.next().unwrap_or("").trim_start();
            let (id, summary) = rest.split_once("  ").unwrap_or((rest, ""));
            out.push(Verdict {
                status: first.to_string(),
                id: id.to_string(),
                summary: summary.trim().to_string(),
                fix: None,
                details: Vec::new(),
            });
        } else if line.starts_with(' ') {
            let v = out.last_mut().expect("an indented line before any check");
            let l = line.trim();
            match l.strip_prefix("fix: ") {
                Some(fix) => v.fix = Some(fix.to_string()),
                None => v.details.push(l.to_string()),
            }
        }
    }
    out
}

fn by_id<'a>(v: &'a [Verdict], id: &str) -> &'a Verdict {
    v.iter()
        .find(|x| x.id == id)
        .unwrap_or_else(|| panic!("no {id} line in {v:#?}"))
}

/// Exactly `id` is FAIL, every other line is ok (or one of `warns`); returns that line.
fn only_fail(host: &Host, id: &str, warns: &[&str]) -> Verdict {
    let (code, v, text) = host.check();
    assert_eq!(code, 1, "exit status with a FAIL line:\n{text}");
    let ids: Vec<&str> = v.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, IDS, "{text}");
    for x in &v {
        let want = if x.id == id {
            "FAIL"
        } else if warns.contains(&x.id.as_str()) {
            "warn"
        } else {
            "ok"
        };
        assert_eq!(x.status, want, "line {}:\n{text}", x.id);
        if x.status != "ok" {
            assert!(x.fix.is_some(), "line {} has no fix:\n{text}", x.id);
        }
    }
    by_id(&v, id).clone()
}

#[test]
fn a_healthy_host_passes() {
    let host = Host::healthy("healthy");
    let (code, v, text) = host.check();
    assert_eq!(code, 0, "{text}");
    let ids: Vec<&str> = v.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, IDS, "{text}");
    for x in &v {
        assert_eq!(x.status, "ok", "{text}");
        assert_eq!(x.fix, None, "{text}");
    }
    // Values in force, defaults marked.
    let conf = by_id(&v, "agent.conf");
    assert!(
        conf.details
            .contains(&format!("[agent] port = {}", host.port)),
        "{text}"
    );
    assert!(
        conf.details
            .contains(&"[log] max_bytes = 31457280 (default)".to_string()),
        "{text}"
    );
    assert!(
        conf.details
            .contains(&"[gopher] control = auto (default)".to_string()),
        "{text}"
    );
    let sock = by_id(&v, "socket.address");
    assert!(
        sock.summary.contains(&format!("0.0.0.0:{}", host.port)),
        "{text}"
    );
    assert!(
        by_id(&v, "firewall").summary.contains("zone public"),
        "{text}"
    );
    // Read-only: nothing but queries went to systemd; the token never shows.
    for call in host.systemd.calls() {
        assert!(call.starts_with("show "), "systemctl {call}");
    }
    assert!(!text.contains("secret-token-value"));
    // A healthy service leaves the journal alone.
    assert!(host
        .tools
        .calls()
        .iter()
        .all(|c| !c.starts_with("journalctl")));
}

#[test]
fn a_bad_value_in_agent_conf() {
    let host = Host::healthy("badlevel");
    host.write_conf("[file_collect]\n");
    std::fs::write(
        &host.conf,
        std::fs::read_to_string(&host.conf)
            .unwrap()
            .replace("log_level=INFO", "log_level=loud"),
    )
    .unwrap();
    let l = only_fail(&host, "agent.conf", &[]);
    assert!(
        l.summary.contains("[log] log_level = \"loud\" is invalid"),
        "{l:?}"
    );
    let fix = l.fix.unwrap();
    assert!(
        fix.contains("set [log] log_level to one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        "{fix}"
    );
}

#[test]
fn a_bad_port_makes_the_address_unknown_not_wrong() {
    let host = Host::healthy("badport");
    let text = std::fs::read_to_string(&host.conf).unwrap();
    host.write_conf_raw(&text.replace(&format!("port={}", host.port), "port=abc"));
    let l = only_fail(&host, "agent.conf", &["socket.address", "firewall"]);
    assert!(l.fix.unwrap().contains("set [agent] port to a port number"));
}

#[test]
fn an_unknown_key_is_a_warning() {
    let host = Host::healthy("unknown");
    host.write_conf("[agent]\nprot=1\n");
    let (code, v, text) = host.check();
    assert_eq!(code, 0, "{text}");
    let l = by_id(&v, "agent.conf");
    assert_eq!(l.status, "warn", "{text}");
    assert!(l.summary.contains("[agent] prot"), "{text}");
}

#[test]
fn an_unregistered_host() {
    let host = Host::healthy("notoken");
    std::fs::remove_file(&host.token).unwrap();
    let l = only_fail(&host, "token", &[]);
    assert!(l.summary.contains("not registered"), "{l:?}");
    let fix = l.fix.unwrap();
    assert!(
        fix.starts_with(&format!(
            "aops_agent -c {} register -f ",
            host.conf.display()
        )),
        "{fix}"
    );
}

#[test]
fn a_token_file_without_a_token() {
    let host = Host::healthy("badtoken");
    std::fs::write(&host.token, "{\"token\": 1}").unwrap();
    let l = only_fail(&host, "token", &[]);
    assert!(l.summary.contains("no usable token"), "{l:?}");
}

#[test]
fn a_token_file_others_can_read() {
    let host = Host::healthy("tokenmode");
    std::fs::set_permissions(&host.token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let l = only_fail(&host, "token", &[]);
    assert!(l.summary.contains("mode 0644"), "{l:?}");
    assert_eq!(
        l.fix.unwrap(),
        format!("chmod 0600 {}", host.token.display())
    );
}

#[test]
fn a_token_file_not_owned_by_root() {
    let host = Host::healthy("tokenowner");
    std::os::unix::fs::chown(&host.token, Some(65534), Some(65534)).unwrap();
    let l = only_fail(&host, "token", &[]);
    assert!(l.summary.contains("uid 65534"), "{l:?}");
    assert_eq!(
        l.fix.unwrap(),
        format!("chown root:root {}", host.token.display())
    );
}

#[test]
fn a_disabled_socket() {
    let host = Host::healthy("disabled");
    std::fs::write(
        host.systemd
            .dir
            .join("units/aops-agent.socket/UnitFileState"),
        "disabled\n",
    )
    .unwrap();
    let l = only_fail(&host, "socket.enabled", &[]);
    assert_eq!(l.fix.unwrap(), "systemctl enable --now aops-agent.socket");
}

#[test]
fn an_inactive_socket() {
    let mut host = Host::healthy("inactive");
    host.listener = None;
    std::fs::write(
        host.systemd.dir.join("units/aops-agent.socket/ActiveState"),
        "inactive\n",
    )
    .unwrap();
    let l = only_fail(&host, "socket.active", &[]);
    assert_eq!(l.fix.unwrap(), "systemctl start aops-agent.socket");
}

#[test]
fn a_socket_that_failed_because_the_port_is_taken() {
    // The test's listener plays the other process that holds the port.
    let host = Host::healthy("portinuse");
    for (p, v) in [
        ("ActiveState", "failed"),
        ("SubState", "failed"),
        ("Result", "resources"),
    ] {
        std::fs::write(host.systemd.dir.join("units/aops-agent.socket").join(p), v).unwrap();
    }
    let l = only_fail(&host, "socket.active", &[]);
    assert!(
        l.summary.contains("has failed (result: resources)"),
        "{l:?}"
    );
    assert!(
        l.details
            .iter()
            .any(|d| d.contains("is in use by another process")
                && d.contains(&format!("ss -ltnp 'sport = :{}'", host.port))),
        "{l:?}"
    );
    assert!(l
        .fix
        .unwrap()
        .contains("systemctl reset-failed aops-agent.socket"));
}

#[test]
fn a_socket_elsewhere_than_agent_conf_says() {
    let host = Host::healthy("moved");
    // agent.conf edited, no daemon-reload: systemd still has the old address.
    let other = common::free_port();
    std::fs::write(
        host.systemd.dir.join("units/aops-agent.socket/Listen"),
        format!("0.0.0.0:{other} (Stream)\n"),
    )
    .unwrap();
    let l = only_fail(&host, "socket.address", &[]);
    assert_eq!(
        l.summary,
        format!(
            "aops-agent.socket listens on 0.0.0.0:{other} but {} asks for 0.0.0.0:{}",
            host.conf.display(),
            host.port
        )
    );
    assert_eq!(
        l.fix.unwrap(),
        "systemctl daemon-reload && systemctl restart aops-agent.socket aops-agent.service"
    );
}

#[test]
fn a_socket_set_to_the_right_address_that_nothing_listens_on() {
    // daemon-reload without a restart: systemd has the new address but has not bound it.
    let mut host = Host::healthy("notbound");
    host.listener = None;
    let l = only_fail(&host, "socket.address", &[]);
    assert!(l.summary.contains("nothing listens there"), "{l:?}");
    assert_eq!(
        l.fix.unwrap(),
        "systemctl restart aops-agent.socket aops-agent.service"
    );
}

#[test]
fn a_loopback_address_is_a_warning() {
    let host = Host::healthy("loopback");
    let text = std::fs::read_to_string(&host.conf).unwrap();
    host.write_conf_raw(&text.replace("ip=0.0.0.0", "ip=127.0.0.1"));
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = std::fs::read_to_string(&host.conf).unwrap();
    host.write_conf_raw(&text.replace(&format!("port={}", host.port), &format!("port={port}")));
    std::fs::write(
        host.systemd.dir.join("units/aops-agent.socket/Listen"),
        format!("127.0.0.1:{port} (Stream)\n"),
    )
    .unwrap();
    let (code, v, text) = host.check();
    assert_eq!(code, 0, "{text}");
    let l = by_id(&v, "socket.address");
    assert_eq!(l.status, "warn", "{text}");
    assert!(l.summary.contains("loopback only"), "{text}");
    assert!(l.fix.as_ref().unwrap().contains("set ip=0.0.0.0"), "{text}");
    assert!(by_id(&v, "firewall").summary.contains("loopback"), "{text}");
    drop(listener);
}

#[test]
fn a_failed_service_shows_its_journal_line() {
    let host = Host::healthy("failed");
    for (p, v) in [
        ("ActiveState", "failed"),
        ("SubState", "failed"),
        ("Result", "exit-code"),
    ] {
        std::fs::write(host.systemd.dir.join("units/aops-agent.service").join(p), v).unwrap();
    }
    let agent_line = "2026-12-01T10:00:00+0000 h aops-agent[42]: refusing to start: /etc/aops/agent.conf: [agent] port = \"abc\" is invalid: expected a port number from 1 to 65535";
    host.tools.journal(
        "aops-agent.service",
        6,
        "2026-12-01T09:59:59+0000 h aops-agent[41]: an info line",
    );
    host.tools.journal("aops-agent.service", 2, agent_line);
    host.tools.journal(
        "aops-agent.service",
        3,
        "2026-12-01T10:00:00+0000 h systemd[1]: Failed to start A-Ops agent (answers aops-manager's API).",
    );
    let l = only_fail(&host, "service", &[]);
    assert_eq!(
        l.summary,
        "aops-agent.service has failed (result: exit-code)"
    );
    assert_eq!(l.details, [format!("journal: {agent_line}")]);
    assert!(l.fix.unwrap().contains(
        "systemctl reset-failed aops-agent.service && systemctl restart aops-agent.socket"
    ));
}

#[test]
fn a_service_that_restarted_after_failures_is_a_warning() {
    let host = Host::healthy("restarts");
    for (p, v) in [
        ("ActiveState", "active"),
        ("SubState", "running"),
        ("NRestarts", "3"),
    ] {
        std::fs::write(host.systemd.dir.join("units/aops-agent.service").join(p), v).unwrap();
    }
    host.tools.journal(
        "aops-agent.service",
        3,
        "2026-12-01T10:00:00+0000 h aops-agent[9]: something failed",
    );
    let (code, v, text) = host.check();
    assert_eq!(code, 0, "{text}");
    let l = by_id(&v, "service");
    assert_eq!(l.status, "warn", "{text}");
    assert!(l.summary.contains("after 3 restart(s)"), "{text}");
    assert!(l.details[0].contains("something failed"), "{text}");
}

#[test]
fn no_allow_from_is_a_warning() {
    let host = Host::healthy("allowfrom");
    let text = std::fs::read_to_string(&host.conf).unwrap();
    host.write_conf_raw(&text.replace("allow_from=192.0.2.10\n", ""));
    let (code, v, text) = host.check();
    assert_eq!(code, 0, "{text}");
    let l = by_id(&v, "allow_from");
    assert_eq!(l.status, "warn", "{text}");
    assert!(l.fix.as_ref().unwrap().contains("allow_from="), "{text}");
    let others = v.iter().filter(|x| x.id != "allow_from");
    assert!(others.into_iter().all(|x| x.status == "ok"), "{text}");
}

#[test]
fn a_firewall_that_keeps_the_manager_out() {
    let host = Host::healthy("firewall");
    host.tools.zone("public", "eth0", "ssh dhcpv6-client", "");
    let l = only_fail(&host, "firewall", &[]);
    assert!(l.summary.contains("zone public does not let"), "{l:?}");
    let p = host.port;
    assert_eq!(
        l.fix.unwrap(),
        format!(
            "firewall-cmd --permanent --zone=public --add-port={p}/tcp && \
             firewall-cmd --zone=public --add-port={p}/tcp"
        )
    );
}

#[test]
fn gala_gopher_not_installed_is_a_warning() {
    let host = Host::healthy("nogopher");
    std::fs::remove_dir_all(host.systemd.dir.join("units/gala-gopher.service")).unwrap();
    let (code, v, text) = host.check();
    assert_eq!(code, 0, "{text}");
    let l = by_id(&v, "gala-gopher");
    assert_eq!(l.status, "warn", "{text}");
    assert_eq!(l.fix.as_deref(), Some("dnf install gala-gopher"), "{text}");
}

#[test]
fn a_missing_gala_gopher_configuration() {
    let host = Host::healthy("nogopherconf");
    std::fs::remove_file(&host.gopher_conf).unwrap();
    // On a machine that has gala-gopher's own file the check points there instead (a warning).
    if std::path::Path::new("/etc/gala-gopher/gala-gopher.conf").exists()
        || std::path::Path::new("/opt/gala-gopher/gala-gopher.conf").exists()
    {
        panic!("this machine has a gala-gopher configuration: the test needs a host without one");
    }
    let l = only_fail(&host, "gala-gopher.conf", &["gala-gopher.generation"]);
    assert!(l.summary.contains("No such file"), "{l:?}");
    assert!(l.fix.unwrap().contains("set config_path under [gopher]"));
}

#[test]
fn json_carries_the_same_verdicts() {
    let host = Host::healthy("json");
    std::fs::remove_file(&host.token).unwrap();
    host.tools.zone("public", "eth0", "ssh", "");
    let (code, text_verdicts, text) = host.check();
    let (jcode, j) = host.check_json();
    assert_eq!((code, jcode), (1, 1), "{text}\n{j}");
    assert_eq!(j["ok"], false);
    assert_eq!(j["config_file"], host.conf.display().to_string());
    assert_eq!(j["counts"]["FAIL"], 2);
    let checks = j["checks"].as_array().unwrap();
    assert_eq!(checks.len(), text_verdicts.len());
    for (c, t) in checks.iter().zip(&text_verdicts) {
        assert_eq!(c["id"], t.id.as_str());
        assert_eq!(c["status"], t.status.as_str());
        assert_eq!(c["summary"], t.summary.as_str());
        assert_eq!(c["fix"].as_str(), t.fix.as_deref());
        let details: Vec<&str> = c["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(details, t.details);
    }
    let values = j["values"].as_array().unwrap();
    let port = values.iter().find(|v| v["key"] == "port").unwrap();
    assert_eq!(port["value"], host.port.to_string());
    assert_eq!(port["default"], false);
    let healthy = Host::healthy("json-ok");
    let (code, j) = healthy.check_json();
    assert_eq!((code, &j["ok"]), (0, &Value::Bool(true)), "{j}");
}

#[test]
fn a_hung_systemctl_does_not_hold_the_check() {
    let host = Host::healthy("hang");
    host.systemd.hang();
    let started = Instant::now();
    let (code, v, text) = host.check();
    let took = started.elapsed();
    // systemctl is given 2 s; allow for a loaded machine.
    assert!(
        took < Duration::from_secs(10),
        "check took {took:?}:\n{text}"
    );
    assert_eq!(code, 1, "{text}");
    let l = by_id(&v, "socket.enabled");
    assert_eq!(l.status, "FAIL", "{text}");
    assert!(
        l.summary
            .contains("did not finish within 2s and was killed"),
        "{text}"
    );
    for id in [
        "socket.active",
        "socket.address",
        "service",
        "firewall",
        "gala-gopher",
    ] {
        assert_eq!(by_id(&v, id).status, "FAIL", "{text}");
    }
    // What needs no systemd is still checked.
    assert_eq!(by_id(&v, "token").status, "ok", "{text}");
    assert_eq!(by_id(&v, "agent.conf").status, "ok", "{text}");
}

#[test]
fn a_hung_firewall_cmd_does_not_hold_the_check() {
    let host = Host::healthy("fwhang");
    host.tools.hang("firewall-cmd");
    let started = Instant::now();
    let (code, v, text) = host.check();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(12),
        "check took {took:?}:\n{text}"
    );
    assert_eq!(code, 0, "{text}");
    let l = by_id(&v, "firewall");
    assert_eq!(l.status, "warn", "{text}");
    assert!(l.summary.contains("did not finish within 3s"), "{text}");
    // One call that hangs is the last.
    let calls = host.tools.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("firewall-cmd"))
            .count(),
        1,
        "{calls:?}"
    );
}

/// A gala-gopher 2.x host: the master stand-in with gopher-ctl, REST off in its configuration.
fn gopher2_host(tag: &str) -> (Host, gopher2::GopherStandin) {
    let host = Host::healthy(tag);
    let g = gopher2::GopherStandin::start(
        "master",
        &host._dir.join("gopher"),
        gopher2::GopherOptions {
            no_rest: true,
            ..Default::default()
        },
    );
    let text = include_str!("fixtures/gala-gopher/2.x/gala-gopher.2026-07-27.conf")
        .replace("rest_api_on = true;", "rest_api_on = false;");
    std::fs::write(&host.gopher_conf, text).unwrap();
    (host, g)
}

fn check_with(host: &Host, env: Vec<(String, String)>) -> (i32, Vec<Verdict>, String) {
    let out = host.command(false).envs(env).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), parse(&text), text)
}

#[test]
fn a_gala_gopher_2_host_names_its_generation_and_its_channel_answers() {
    let (host, g) = gopher2_host("gopher2");
    let (code, v, text) = check_with(&host, g.ctl_env());
    assert_eq!(code, 0, "{text}");
    let gen = by_id(&v, "gala-gopher.generation");
    assert_eq!(gen.status, "ok", "{text}");
    assert!(
        gen.summary
            .contains("probes switched by gopher-ctl (gala-gopher 2.x"),
        "{text}"
    );
    let ch = by_id(&v, "gala-gopher.channel");
    assert_eq!(ch.status, "ok", "{text}");
    assert!(
        ch.summary.starts_with("gala-gopher answers through"),
        "{text}"
    );
    // It only read: nothing was changed in gala-gopher.
    assert!(g.changes().is_empty());
}

#[test]
fn a_gala_gopher_that_runs_but_does_not_answer_fails_the_channel_line_only() {
    let (host, mut g) = gopher2_host("gopher2-down");
    g.stop();
    let (code, v, text) = check_with(&host, g.ctl_env());
    assert_eq!(code, 1, "{text}");
    for x in &v {
        let want = if x.id == "gala-gopher.channel" {
            "FAIL"
        } else {
            "ok"
        };
        assert_eq!(x.status, want, "line {}:\n{text}", x.id);
    }
    let ch = by_id(&v, "gala-gopher.channel");
    assert!(
        ch.summary
            .contains("Failed to connect to gopher cmd server"),
        "{text}"
    );
    assert!(
        ch.fix
            .as_deref()
            .unwrap()
            .contains("systemctl restart gala-gopher.service"),
        "{text}"
    );
}

#[test]
fn a_configuration_with_nothing_to_switch_probes_by_fails_the_generation_line() {
    let host = Host::healthy("nogeneration");
    std::fs::write(
        &host.gopher_conf,
        "global = { rest_api_on = false; };\nrest_api_server = {};\n",
    )
    .unwrap();
    let env = vec![(
        "AOPS_AGENT_GOPHER_CTL".to_string(),
        host._dir.join("no-gopher-ctl").display().to_string(),
    )];
    let (code, v, text) = check_with(&host, env);
    assert_eq!(code, 1, "{text}");
    for x in &v {
        let want = if x.id == "gala-gopher.generation" {
            "FAIL"
        } else {
            "ok"
        };
        assert_eq!(x.status, want, "line {}:\n{text}", x.id);
    }
    assert!(by_id(&v, "gala-gopher.generation")
        .fix
        .as_deref()
        .unwrap()
        .contains("gopher-ctl"));
}
