//! collect/items/change over HTTP: the contract's rules, in-place edits, concurrency, crash
//! safety under SIGKILL, and coalesced restarts of gala-gopher (counted by a stand-in systemctl).

mod common;
#[path = "support/standin.rs"]
mod standin;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Agent, Options, TempDir, TOKEN};
use serde_json::{json, Value};
use standin::Standin;

const UNIT: &str = "gala-gopher.service";
const FIXTURE: &str = include_str!("fixtures/gala-gopher/gala-gopher.2023-06-17.conf");
const PATH: &str = "/v1/agent/collect/items/change";
/// Probes that take on/off (no start_check), used as bits of a pattern.
const BITS: &[&str] = &["tcp", "task", "endpoint", "ioprobe", "redis", "nginx"];

struct Setup {
    /// Keeps the directory alive for the test.
    _dir: TempDir,
    standin: Standin,
    conf: PathBuf,
}

impl Setup {
    fn new(tag: &str, installed: bool) -> Setup {
        let dir = TempDir::new(tag);
        let standin = Standin::new(&dir.join("systemd"));
        if installed {
            standin.install(UNIT, &[("ActiveState", "active")]);
        }
        let conf = dir.join("gala-gopher.conf");
        std::fs::write(&conf, FIXTURE).unwrap();
        Setup {
            _dir: dir,
            standin,
            conf,
        }
    }

    fn agent(&self) -> Agent {
        let mut env = self.standin.env();
        env.push(("STANDIN_WATCH".into(), self.conf.display().to_string()));
        Agent::start_with(Options {
            extra_conf: format!("[gopher]\nconfig_path={}\n", self.conf.display()),
            env,
            // Keep the log small under load.
            log_level: "INFO",
            ..Options::default()
        })
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.conf).unwrap()
    }

    fn restarts(&self) -> Vec<String> {
        self.standin
            .calls()
            .into_iter()
            .filter(|c| c.contains("try-restart"))
            .collect()
    }
}

/// The fixture with `probe`'s `switch` set to `state`, edited as plain text: the contract says
/// only that value may change.
fn with_switch(text: &str, probe: &str, state: &str) -> String {
    let name = format!("name = \"{probe}\";");
    let at = text
        .find(&name)
        .unwrap_or_else(|| panic!("no probe {probe}"));
    let sw = at + text[at..].find("switch = \"").unwrap() + "switch = \"".len();
    let end = sw + text[sw..].find('"').unwrap();
    format!("{}{}{}", &text[..sw], state, &text[end..])
}

fn pattern(p: usize) -> Vec<(&'static str, &'static str)> {
    BITS.iter()
        .enumerate()
        .map(|(j, b)| (*b, if (p >> j) & 1 == 1 { "on" } else { "off" }))
        .collect()
}

fn pattern_text(p: usize) -> String {
    pattern(p)
        .iter()
        .fold(FIXTURE.to_string(), |t, (probe, state)| {
            with_switch(&t, probe, state)
        })
}

fn pattern_body(p: usize) -> String {
    let items: serde_json::Map<String, Value> = pattern(p)
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({ "gala-gopher": items }).to_string()
}

fn change(agent: &Agent, body: &str) -> Value {
    agent.call("POST", PATH, Some(body)).json()
}

fn cksum(path: &std::path::Path) -> String {
    let out = std::process::Command::new("cksum")
        .stdin(std::fs::File::open(path).unwrap())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Waits until some try-restart saw the file as it is now; returns all restarts seen.
fn wait_restart_of_final(s: &Setup) -> Vec<String> {
    let want = cksum(&s.conf);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r = s.restarts();
        if r.last().is_some_and(|l| l.ends_with(&want)) {
            return r;
        }
        assert!(
            Instant::now() < until,
            "no restart after the last change (want {want}); restarts: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn value_errors_are_1000_and_shape_errors_400() {
    let s = Setup::new("rules", true);
    let agent = s.agent();
    for body in [
        None,
        Some("{}"),
        Some("null"),
        Some(r#"{"gala-gopher": ["tcp"]}"#),
        Some(r#"{"gala-gopher": "on"}"#),
        Some(r#"{"gala-gopher": {"tcp": "maybe"}}"#),
        Some(r#"{"gala-gopher": {"tcp": true}}"#),
        Some(r#"{"gala-gopher": {"tcp": "on", "redis": null}}"#),
    ] {
        let v = agent.call("POST", PATH, body).json();
        assert_eq!(
            v,
            json!({"code": 1000, "msg": "parameter error"}),
            "{body:?}"
        );
    }
    for body in ["[]", r#"["tcp"]"#, "\"on\"", "{not json"] {
        assert_eq!(agent.call("POST", PATH, Some(body)).status, 400, "{body}");
    }
    let r = agent.request(
        "POST",
        PATH,
        Some("wrong"),
        Some(r#"{"gala-gopher": {"tcp": "off"}}"#),
    );
    assert_eq!(r.json()["code"], 1201);
    assert_eq!(agent.call("GET", PATH, None).status, 405);
    assert_eq!(s.text(), FIXTURE, "a rejected request wrote the file");
    assert!(s.restarts().is_empty());
}

#[test]
fn unsupported_or_absent_plugins_fail_every_item() {
    let s = Setup::new("absent", false);
    let agent = s.agent();
    let v = change(
        &agent,
        r#"{"gala-gopher": {"tcp": "off", "redis": "on"}, "other": {"x": "on"}}"#,
    );
    assert_eq!(
        v,
        json!({"code": 200, "msg": "operate success", "resp": {
            "gala-gopher": {"success": [], "failure": ["redis", "tcp"]},
            "other": {"success": [], "failure": ["x"]}}})
    );
    assert_eq!(s.text(), FIXTURE);
    assert!(s.restarts().is_empty());
}

#[test]
fn switches_follow_the_probe_rules_and_edit_only_their_values() {
    let s = Setup::new("edit", true);
    let agent = s.agent();
    let v = change(
        &agent,
        r#"{"gala-gopher": {"tcp": "off", "pg_stat_probe": "off", "lvs": "on",
            "redis": "auto", "nosuch": "on", "example": "on"}}"#,
    );
    let resp = &v["resp"]["gala-gopher"];
    assert_eq!(v["code"], 200);
    let mut ok: Vec<&str> = resp["success"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    ok.sort();
    assert_eq!(ok, ["example", "lvs", "pg_stat_probe", "tcp"]);
    let mut bad: Vec<&str> = resp["failure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    bad.sort();
    assert_eq!(bad, ["nosuch", "redis"]);
    let want = [
        ("tcp", "off"),
        ("pg_stat_probe", "off"),
        ("lvs", "on"),
        ("example", "on"),
    ]
    .iter()
    .fold(FIXTURE.to_string(), |t, (p, st)| with_switch(&t, p, st));
    assert_eq!(s.text(), want);
    let restarts = wait_restart_of_final(&s);
    assert_eq!(restarts.len(), 1, "{restarts:?}");

    // pg_stat_probe has start_check: auto is allowed.
    let v = change(&agent, r#"{"gala-gopher": {"pg_stat_probe": "auto"}}"#);
    assert_eq!(
        v["resp"]["gala-gopher"],
        json!({"success": ["pg_stat_probe"], "failure": []})
    );
    assert_eq!(s.text(), with_switch(&want, "pg_stat_probe", "auto"));
}

#[test]
fn an_unchanged_file_is_not_written_and_nothing_restarts() {
    let s = Setup::new("same", true);
    let before = std::fs::metadata(&s.conf).unwrap();
    let agent = s.agent();
    std::thread::sleep(Duration::from_millis(20));
    let v = change(&agent, r#"{"gala-gopher": {"tcp": "on", "redis": "off"}}"#);
    assert_eq!(
        v["resp"]["gala-gopher"],
        json!({"success": ["redis", "tcp"], "failure": []})
    );
    let after = std::fs::metadata(&s.conf).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(before.ino(), after.ino(), "the file was replaced");
    assert_eq!(before.mtime_nsec(), after.mtime_nsec());
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.restarts().is_empty(), "{:?}", s.restarts());
}

#[test]
fn a_missing_or_broken_configuration_fails_every_item() {
    let s = Setup::new("broken", true);
    let agent = s.agent();
    let broken = &FIXTURE[..FIXTURE.len() / 2];
    std::fs::write(&s.conf, broken).unwrap();
    let v = change(&agent, r#"{"gala-gopher": {"tcp": "off"}}"#);
    assert_eq!(
        v["resp"]["gala-gopher"],
        json!({"success": [], "failure": ["tcp"]})
    );
    assert_eq!(std::fs::read_to_string(&s.conf).unwrap(), broken);

    std::fs::remove_file(&s.conf).unwrap();
    let v = change(&agent, r#"{"gala-gopher": {"tcp": "off"}}"#);
    assert_eq!(
        v["resp"]["gala-gopher"],
        json!({"success": [], "failure": ["tcp"]})
    );
    assert!(!s.conf.exists());
    assert!(s.restarts().is_empty());
}

#[test]
fn fifty_simultaneous_changes_equal_some_serial_order() {
    let s = Setup::new("concurrent", true);
    let agent = Arc::new(s.agent());
    let started = Instant::now();
    let threads: Vec<_> = (0..50)
        .map(|p| {
            let agent = Arc::clone(&agent);
            std::thread::spawn(move || change(&agent, &pattern_body(p)))
        })
        .collect();
    for t in threads {
        let v = t
            .join()
            .unwrap_or_else(|_| panic!("a change got no answer; agent log:\n{}", agent.log_text()));
        assert_eq!(v["code"], 200);
        assert_eq!(v["resp"]["gala-gopher"]["failure"], json!([]));
        assert_eq!(
            v["resp"]["gala-gopher"]["success"]
                .as_array()
                .unwrap()
                .len(),
            BITS.len()
        );
    }
    let text = s.text();
    let last = (0..50).find(|&p| pattern_text(p) == text);
    assert!(
        last.is_some(),
        "the file is no serial order's result:\n{text}"
    );
    let restarts = wait_restart_of_final(&s);
    let bound = 2 + (started.elapsed().as_secs_f64() / 3.0).ceil() as usize;
    assert!(
        restarts.len() <= bound.min(25),
        "restarts not coalesced: {restarts:?}"
    );
}

#[test]
fn twenty_quick_changes_coalesce_restarts() {
    let s = Setup::new("coalesce", true);
    let agent = s.agent();
    let started = Instant::now();
    for i in 0..20 {
        let v = change(&agent, &pattern_body(i % 2 + 2 * (i % 3)));
        assert_eq!(v["code"], 200);
    }
    let took = started.elapsed();
    wait_restart_of_final(&s);
    // Let an owed restart (a change that landed while one was under way) run, then count.
    std::thread::sleep(Duration::from_millis(3500));
    let restarts = wait_restart_of_final(&s);
    // One restart at once, then at most one per 3 s while changes keep coming, plus one owed.
    let bound = 2 + (took.as_secs_f64() / 3.0).ceil() as usize;
    assert!(
        restarts.len() <= bound.min(10),
        "20 changes in {took:?} gave {} restarts: {restarts:?}",
        restarts.len()
    );
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(s.restarts().len(), restarts.len(), "restarts went on");
}

/// One request that tolerates the agent dying under it.
/// One change request; whether an answer came back.
fn try_change(addr: &str, body: &str) -> bool {
    let Ok(mut conn) = TcpStream::connect(addr) else {
        return false;
    };
    let raw = format!(
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\naccess_token: {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut sink = Vec::new();
    conn.write_all(raw.as_bytes()).is_ok()
        && conn.read_to_end(&mut sink).is_ok()
        && !sink.is_empty()
}

#[test]
fn sigkill_during_changes_never_leaves_a_partial_file() {
    let s = Setup::new("sigkill", true);
    let valid: Vec<String> = (0..1 << BITS.len()).map(pattern_text).collect();
    let mut seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut changed = 0;
    for round in 0..10 {
        let mut agent = s.agent();
        let addr = agent.addr();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let (addr, stop) = (addr.clone(), Arc::clone(&stop));
                let answered = Arc::clone(&answered);
                let start = next();
                std::thread::spawn(move || {
                    let mut p = start + w;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        if try_change(&addr, &pattern_body(p % 64)) {
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        p += 7;
                    }
                })
            })
            .collect();
        // The kill lands while changes are under way: after the first answer (how long that
        // takes depends on the machine, and on emulation), at a different point each round.
        let until = Instant::now() + Duration::from_secs(30);
        while answered.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            assert!(
                Instant::now() < until,
                "round {round}: no change was answered"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis((next() % 200) as u64));
        common::unsafe_kill(agent.child.id(), "KILL");
        let _ = agent.child.wait();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        let text = s.text();
        assert!(
            valid.contains(&text),
            "round {round}: the file is truncated or mixed ({} bytes)",
            text.len()
        );
        if text != FIXTURE {
            changed += 1;
        }
    }
    assert!(
        changed > 0,
        "no change ever reached the file: the test proved nothing"
    );
}
