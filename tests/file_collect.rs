//! file/collect over real HTTP (api.md §2): the reply, every rule that makes a path fail, and
//! that no file can make the agent block or read without bound.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Agent, Options, TempDir};
use serde_json::{json, Value};

const MIB: usize = 1 << 20;

/// An agent whose account files (for owner/group names) are fixtures under its own root.
fn agent_with_accounts(root: &TempDir) -> Agent {
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\ncollector:x:4244:4245::/home/collector:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\ncollectors:x:4245:\n").unwrap();
    Agent::start_with(Options {
        env: vec![(
            "AOPS_AGENT_SYSROOT".into(),
            root.path().display().to_string(),
        )],
        ..Options::default()
    })
}

fn collect(a: &Agent, paths: &[&str]) -> Value {
    let body = serde_json::to_string(paths).unwrap();
    let r = a.call("POST", "/v1/agent/file/collect", Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn write_mode(path: &Path, content: &[u8], mode: u32) {
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn reply_carries_content_mode_and_names() {
    let root = TempDir::new("collect-root");
    let a = agent_with_accounts(&root);
    let d = TempDir::new("collect-ok");
    let plain = d.join("sshd_config");
    write_mode(&plain, b"Port 22\n# comment\n", 0o644);
    chown(&plain, Some(0), Some(0)).unwrap();
    let named = d.join("named.conf");
    write_mode(&named, "caf\u{e9} = 1\n".as_bytes(), 0o640);
    chown(&named, Some(4244), Some(4245)).unwrap();
    let numeric = d.join("numeric.conf");
    write_mode(&numeric, b"", 0o600);
    chown(&numeric, Some(4242), Some(4243)).unwrap();
    let setuid = d.join("setuid.conf");
    write_mode(&setuid, b"x\n", 0o4644);
    let sticky = d.join("sticky.conf");
    write_mode(&sticky, b"y\n", 0o1604);
    // chown clears setuid: give the owner first, then the mode again.
    for (f, mode) in [(&setuid, 0o4644), (&sticky, 0o1604)] {
        chown(f, Some(0), Some(0)).unwrap();
        fs::set_permissions(f, fs::Permissions::from_mode(mode)).unwrap();
    }

    let v = collect(
        &a,
        &[
            &s(&plain),
            &s(&named),
            &s(&numeric),
            &s(&setuid),
            &s(&sticky),
        ],
    );
    let info = |p: &Path, content: &str, mode: &str, owner: &str, group: &str| {
        json!({"path": s(p), "content": content,
               "file_attr": {"mode": mode, "owner": owner, "group": group}})
    };
    assert_eq!(
        v,
        json!({
            "success_files": [s(&plain), s(&named), s(&numeric), s(&setuid), s(&sticky)],
            "fail_files": [],
            "infos": [
                info(&plain, "Port 22\n# comment\n", "0644", "root", "root"),
                info(&named, "caf\u{e9} = 1\n", "0640", "collector", "collectors"),
                info(&numeric, "", "0600", "4242", "4243"),
                info(&setuid, "x\n", "4644", "root", "root"),
                info(&sticky, "y\n", "1604", "root", "root"),
            ]
        })
    );
    // Bare object, keys sorted, no envelope.
    let body = serde_json::to_string(&[s(&plain)]).unwrap();
    let raw = a.call("POST", "/v1/agent/file/collect", Some(&body)).text();
    assert!(
        raw.starts_with("{\"fail_files\":[],\"infos\":[{\"content\":"),
        "{raw}"
    );
    assert!(!raw.contains("\"code\""), "{raw}");
}

#[test]
fn names_come_from_the_hosts_account_files_by_default() {
    // Without a fixture root the agent reads this machine's /etc/passwd and /etc/group, where
    // uid 0 is root on every Linux system.
    let a = Agent::start();
    let d = TempDir::new("collect-real-names");
    let f = d.join("a.conf");
    write_mode(&f, b"a\n", 0o644);
    chown(&f, Some(0), Some(0)).unwrap();
    let v = collect(&a, &[&s(&f)]);
    assert_eq!(v["infos"][0]["file_attr"]["owner"], "root");
    assert_eq!(v["infos"][0]["file_attr"]["group"], "root");
}

#[test]
fn every_fail_rule_with_its_reason_in_the_log() {
    let root = TempDir::new("collect-root");
    let a = agent_with_accounts(&root);
    let d = TempDir::new("collect-fail");
    let missing = d.join("missing.conf");
    let dir = d.join("a-directory");
    fs::create_dir(&dir).unwrap();
    let owner_x = d.join("owner-x.sh");
    write_mode(&owner_x, b"#!/bin/sh\n", 0o744);
    let group_x = d.join("group-x.conf");
    write_mode(&group_x, b"a\n", 0o654);
    let other_x = d.join("other-x.conf");
    write_mode(&other_x, b"a\n", 0o645);
    let exactly_1mib = d.join("exactly-1mib.conf");
    write_mode(&exactly_1mib, &vec![b'a'; MIB], 0o644);
    let over = d.join("1mib-plus-1.conf");
    write_mode(&over, &vec![b'a'; MIB + 1], 0o644);
    let latin1 = d.join("latin1.conf");
    write_mode(&latin1, b"caf\xe9\n", 0o644);
    let fifo = d.join("a.fifo");
    mkfifo(&fifo);
    let sock = d.join("a.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let to_fifo = d.join("link-to-fifo");
    symlink(&fifo, &to_fifo).unwrap();
    let dangling = d.join("dangling");
    symlink(d.join("nowhere"), &dangling).unwrap();

    let cases: Vec<(String, &str)> = vec![
        ("etc/hosts".into(), "not an absolute path"),
        ("./x.conf".into(), "not an absolute path"),
        (s(&missing), "does not exist"),
        (s(&dir), "not a regular file (a directory)"),
        (s(&owner_x), "has an execute bit (mode 0744)"),
        (s(&group_x), "has an execute bit (mode 0654)"),
        (s(&other_x), "has an execute bit (mode 0645)"),
        (s(&over), "larger than 1048576 bytes (1048577 bytes)"),
        (s(&latin1), "not valid UTF-8 (at byte 3)"),
        (s(&fifo), "not a regular file (a FIFO)"),
        (s(&sock), "not a regular file (a socket)"),
        (
            "/dev/null".into(),
            "not a regular file (a character device)",
        ),
        (
            "/dev/zero".into(),
            "not a regular file (a character device)",
        ),
        (s(&to_fifo), "not a regular file (a FIFO)"),
        (s(&dangling), "does not exist"),
    ];
    let mut paths: Vec<&str> = cases.iter().map(|(p, _)| p.as_str()).collect();
    let good = s(&exactly_1mib);
    paths.insert(5, &good);
    let started = Instant::now();
    let v = collect(&a, &paths);
    // A FIFO with no writer would block an open() forever: it must never be opened.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let want_fail: Vec<&str> = cases.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(v["fail_files"], json!(want_fail));
    assert_eq!(v["success_files"], json!([good]));
    assert_eq!(v["infos"][0]["content"].as_str().unwrap().len(), MIB);
    for (path, reason) in &cases {
        a.wait_for_log(
            &format!("INFO: file/collect: {path:?} fails: {reason}"),
            Duration::from_secs(5),
        );
    }
    // Reasons only: no content of a failing file reaches the journal.
    assert!(!a.log_text().contains("caf"), "{}", a.log_text());
}

#[test]
fn symlink_to_a_regular_file_is_followed() {
    let root = TempDir::new("collect-root");
    let a = agent_with_accounts(&root);
    let d = TempDir::new("collect-link");
    let target = d.join("real.conf");
    write_mode(&target, b"key=value\n", 0o640);
    chown(&target, Some(4244), Some(0)).unwrap();
    let link = d.join("link.conf");
    symlink(&target, &link).unwrap();
    let v = collect(&a, &[&s(&link)]);
    assert_eq!(v["success_files"], json!([s(&link)]));
    assert_eq!(
        v["infos"][0],
        json!({"path": s(&link), "content": "key=value\n",
               "file_attr": {"mode": "0640", "owner": "collector", "group": "root"}})
    );
}

#[test]
fn proc_files_claiming_size_zero_are_read_with_a_bound() {
    let root = TempDir::new("collect-root");
    let a = agent_with_accounts(&root);
    for p in ["/proc/self/status", "/proc/kallsyms"] {
        let m = fs::metadata(p).unwrap_or_else(|e| panic!("{p} is needed by this test: {e}"));
        assert_eq!(m.len(), 0, "{p} should claim size 0");
    }
    let v = collect(&a, &["/proc/self/status", "/proc/kallsyms"]);
    // The agent reads its own status: the content is real, though the size claimed was 0.
    assert_eq!(v["success_files"], json!(["/proc/self/status"]));
    let content = v["infos"][0]["content"].as_str().unwrap();
    let name = format!("Name:\t{}\n", common::agent_process_name());
    assert!(content.starts_with(&name), "{content}");
    assert_eq!(v["infos"][0]["file_attr"]["mode"], "0444");
    // kallsyms is many MiB behind its size of 0: cut off at 1 MiB + 1 byte, and failed.
    assert_eq!(v["fail_files"], json!(["/proc/kallsyms"]));
    a.wait_for_log(
        "\"/proc/kallsyms\" fails: larger than 1048576 bytes",
        Duration::from_secs(5),
    );
}

#[test]
fn order_and_duplicates_are_kept_and_empty_path_is_1000() {
    let a = Agent::start();
    let d = TempDir::new("collect-order");
    let x = d.join("x.conf");
    let y = d.join("y.conf");
    write_mode(&x, b"x", 0o644);
    write_mode(&y, b"y", 0o644);
    let v = collect(&a, &[&s(&y), "/nope", &s(&x), &s(&y)]);
    assert_eq!(v["success_files"], json!([s(&y), s(&x), s(&y)]));
    assert_eq!(v["fail_files"], json!(["/nope"]));
    let contents: Vec<&str> = v["infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["y", "x", "y"]);
    let empty = collect(&a, &[]);
    assert_eq!(
        empty,
        json!({"success_files": [], "fail_files": [], "infos": []})
    );
    let r = a.call(
        "POST",
        "/v1/agent/file/collect",
        Some(r#"["/etc/hosts", ""]"#),
    );
    assert_eq!(r.json(), json!({"code": 1000, "msg": "parameter error"}));
}
