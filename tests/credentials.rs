//! file/collect never hands out credentials (api.md §2): the built-in list, the token file,
//! `[file_collect] deny`, and private keys in any file, decided on what is actually opened.
//! System files are only ever read, through the API; everything written is in a temp dir.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use common::{Agent, Options, TempDir};
use serde_json::{json, Value};

fn collect(a: &Agent, paths: &[&str]) -> Value {
    let body = serde_json::to_string(paths).unwrap();
    let r = a.call("POST", "/v1/agent/file/collect", Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Asserts every path in `paths` failed, and the journal says it was refused, and why.
fn assert_refused(a: &Agent, paths: &[(String, String)]) {
    let asked: Vec<&str> = paths.iter().map(|(p, _)| p.as_str()).collect();
    let v = collect(a, &asked);
    assert_eq!(v["fail_files"], json!(asked), "{v}");
    assert_eq!(v["success_files"], json!([]));
    assert_eq!(v["infos"], json!([]));
    for (path, why) in paths {
        a.wait_for_log(
            &format!("WARNING: file/collect: {path:?} fails: refused: {why}"),
            Duration::from_secs(5),
        );
    }
}

#[test]
fn built_in_credential_files_of_this_machine_are_refused() {
    let a = Agent::start();
    let mut cases = Vec::new();
    for f in [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/shadow-",
        "/etc/gshadow-",
        "/etc/security/opasswd",
    ] {
        if Path::new(f).exists() {
            cases.push((
                f.to_string(),
                format!("a credential file (built-in rule {f})"),
            ));
        } else {
            eprintln!("NOTE: {f} does not exist on this machine; its rule is checked by name only");
        }
    }
    assert!(
        cases.iter().any(|(p, _)| p == "/etc/shadow"),
        "/etc/shadow must exist on the test machine"
    );
    let host_keys: Vec<String> = fs::read_dir("/etc/ssh")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().display().to_string())
                .filter(|p| p.starts_with("/etc/ssh/ssh_host_") && p.ends_with("_key"))
                .collect()
        })
        .unwrap_or_default();
    if host_keys.is_empty() {
        eprintln!("NOTE: no SSH host keys on this machine; their rule is covered by a unit test");
    }
    for k in host_keys {
        cases.push((
            k,
            "a credential file (built-in rule /etc/ssh/ssh_host_*_key)".into(),
        ));
    }
    // Other spellings of the same file are the same file.
    cases.push((
        "/etc/../etc//shadow".into(),
        "a credential file (built-in rule /etc/shadow)".into(),
    ));
    assert_refused(&a, &cases);

    // A symlink to it is it: the rule looks at what was opened.
    let d = TempDir::new("cred-link");
    let link = d.join("innocent.conf");
    symlink("/etc/shadow", &link).unwrap();
    let chain = d.join("chain.conf");
    symlink(&link, &chain).unwrap();
    assert_refused(
        &a,
        &[
            (
                s(&link),
                "a credential file (built-in rule /etc/shadow)".into(),
            ),
            (
                s(&chain),
                "a credential file (built-in rule /etc/shadow)".into(),
            ),
        ],
    );
    // Public halves and the rest of /etc stay readable.
    let v = collect(&a, &["/etc/passwd", "/etc/group"]);
    assert_eq!(v["fail_files"], json!([]), "{v}");
    // No line of the journal carries a password hash.
    let log = a.log_text();
    assert!(!log.contains("root:$") && !log.contains("root:*:") && !log.contains("root:!"));
}

#[test]
fn the_agents_own_token_file_and_links_to_it_are_refused() {
    let a = Agent::start();
    let token = s(&a.token_file);
    let d = TempDir::new("cred-token");
    let link = d.join("token-link.json");
    symlink(&a.token_file, &link).unwrap();
    let dotted = token.replace("/agent_token.json", "/./agent_token.json");
    let why = format!("the agent's own token file ({token})");
    assert_refused(
        &a,
        &[
            (token.clone(), why.clone()),
            (s(&link), why.clone()),
            (dotted.clone(), why.clone()),
        ],
    );
    assert!(
        !a.log_text().contains(common::TOKEN),
        "the token was logged"
    );
    // The audit line names the paths and which failed, nothing else.
    let list = format!("[{token:?}, {:?}, {dotted:?}]", s(&link));
    a.wait_for_log(
        &format!("INFO: audit: file/collect from 127.0.0.1: asked {list}; failed {list}"),
        Duration::from_secs(5),
    );
}

const BODY: &str = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n";

fn pem(label: &str) -> String {
    format!("-----BEGIN {label}-----\n{BODY}-----END {label}-----\n")
}

#[test]
fn private_keys_are_refused_wherever_they_are_and_public_ones_pass() {
    let a = Agent::start();
    let d = TempDir::new("cred-pem");
    let mut refused = Vec::new();
    for (i, label) in [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ]
    .iter()
    .enumerate()
    {
        let alone = d.join(&format!("key{i}.pem"));
        fs::write(&alone, pem(label)).unwrap();
        // A configuration file with a key pasted in after other settings, and a certificate.
        let embedded = d.join(&format!("app{i}.conf"));
        fs::write(
            &embedded,
            format!(
                "# app\nlisten = 443\ntls_cert = \"\"\"\n{}\"\"\"\ntls_key = \"\"\"\n{}\"\"\"\n",
                pem("CERTIFICATE"),
                pem(label)
            ),
        )
        .unwrap();
        let why = format!("holds a private key (a PEM \"BEGIN {label}\" block)");
        refused.push((s(&alone), why.clone()));
        refused.push((s(&embedded), why));
    }
    assert_refused(&a, &refused);
    assert!(
        !a.log_text().contains("MIIBOgIBAAJBAKj34"),
        "key material in the journal"
    );

    let public = d.join("id_ed25519.pub");
    fs::write(
        &public,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG user@host\n",
    )
    .unwrap();
    let pubpem = d.join("server.pub.pem");
    fs::write(&pubpem, pem("PUBLIC KEY")).unwrap();
    let cert = d.join("server.crt");
    fs::write(&cert, pem("CERTIFICATE")).unwrap();
    let chain = d.join("chain.pem");
    fs::write(
        &chain,
        format!("{}{}", pem("CERTIFICATE"), pem("CERTIFICATE")),
    )
    .unwrap();
    let paths = [s(&public), s(&pubpem), s(&cert), s(&chain)];
    let asked: Vec<&str> = paths.iter().map(String::as_str).collect();
    let v = collect(&a, &asked);
    assert_eq!(v["success_files"], json!(asked), "{v}");
    assert_eq!(v["infos"][2]["content"], json!(pem("CERTIFICATE")));
}

#[test]
fn deny_entries_and_globs_refuse_what_they_name_and_what_links_there() {
    let d = TempDir::new("cred-deny");
    let secrets = d.join("secrets");
    fs::create_dir_all(secrets.join("sub")).unwrap();
    let app = d.join("app");
    fs::create_dir_all(&app).unwrap();
    let exact = d.join("exact.conf");
    let deny = format!("{}, {}/*.netrc ,{}", s(&exact), s(&app), s(&secrets));
    let a = Agent::start_with(Options {
        extra_conf: format!("[file_collect]\ndeny = {deny}\n"),
        ..Options::default()
    });
    for f in [
        "exact.conf",
        "app/.netrc",
        "app/a.netrc",
        "secrets/db.conf",
        "secrets/sub/x",
    ] {
        fs::write(d.join(f), "password = hunter2\n").unwrap();
    }
    fs::write(app.join("app.conf"), "ok = 1\n").unwrap();
    fs::write(app.join("netrc"), "ok = 1\n").unwrap();
    // Names that reach denied files through links; the rule follows them.
    let outside = TempDir::new("cred-deny-out");
    let to_netrc = outside.join("harmless.conf");
    symlink(app.join(".netrc"), &to_netrc).unwrap();
    let to_dir = outside.join("dir");
    symlink(&secrets, &to_dir).unwrap();

    let glob = format!("listed in [file_collect] deny ({}/*.netrc)", s(&app));
    let dir = format!("listed in [file_collect] deny ({})", s(&secrets));
    assert_refused(
        &a,
        &[
            (
                s(&exact),
                format!("listed in [file_collect] deny ({})", s(&exact)),
            ),
            (s(&app.join(".netrc")), glob.clone()),
            (s(&app.join("a.netrc")), glob.clone()),
            (s(&secrets.join("db.conf")), dir.clone()),
            (s(&secrets.join("sub/x")), dir.clone()),
            (s(&to_netrc), glob),
            (format!("{}/db.conf", s(&to_dir)), dir),
        ],
    );
    let ok = [s(&app.join("app.conf")), s(&app.join("netrc"))];
    let v = collect(&a, &[&ok[0], &ok[1]]);
    assert_eq!(v["success_files"], json!(ok), "{v}");
    assert!(!a.log_text().contains("hunter2"));
}
