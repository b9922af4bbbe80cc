//! `aops_agent register` against a stand-in aops-manager on loopback (api.md §3): the exact
//! request, every way it can fail, and what is (and is not) written.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, target_command, Agent, Options, TempDir, BIN};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/register");
const MACHINE_ID: &str = "5f1c2a7e9b3d4c6a8e0f1a2b3c4d5e6f";
const RELOAD: &str =
    "systemctl daemon-reload && systemctl restart aops-agent.socket aops-agent.service";

/// What register prints after adding `allow_from` to `conf`.
fn allow_note(conf: &Path, allow: &str) -> String {
    format!(
        "[agent] allow_from in {} is now {allow}: only the manager and this host may call the \
         agent; to let others call, list their addresses or CIDR blocks there, comma-separated, \
         then run: systemctl restart aops-agent.service\n",
        conf.display()
    )
}

/// What the stand-in manager does with a request.
#[derive(Clone)]
enum Answer {
    Http(u16, String),
    /// Reads the request and never answers (the connection stays open).
    Silent,
}

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Recorded {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

struct Manager {
    port: u16,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Manager {
    fn start(answer: Answer) -> Manager {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let sink = Arc::clone(&sink);
                let answer = answer.clone();
                std::thread::spawn(move || serve(stream, &answer, &sink));
            }
        });
        Manager { port, seen }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, answer: &Answer, sink: &Mutex<Vec<Recorded>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    sink.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body,
    });
    match answer {
        Answer::Http(status, body) => {
            let reason = if *status == 200 {
                "OK"
            } else {
                "Internal Server Error"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Answer::Silent => std::thread::sleep(Duration::from_secs(30)),
    }
}

fn success(token: &str) -> Answer {
    Answer::Http(
        200,
        json!({"code": 200, "msg": "operate success", "token": token}).to_string(),
    )
}

/// A temporary agent.conf (from the fixture) and token path.
struct Host {
    dir: TempDir,
    conf: PathBuf,
    token_file: PathBuf,
    conf_text: String,
}

impl Host {
    fn new() -> Host {
        let dir = TempDir::new("register");
        let token_file = dir.join("aops/agent_token.json");
        let conf = dir.join("agent.conf");
        let conf_text = fs::read_to_string(format!("{FIXTURES}/agent.conf"))
            .unwrap()
            .replace("@TOKEN_FILE@", &token_file.display().to_string());
        fs::write(&conf, &conf_text).unwrap();
        Host {
            dir,
            conf,
            token_file,
            conf_text,
        }
    }

    /// The fixture's agent.conf with `allow_from` added after the last `[agent]` key.
    fn conf_with_allow(&self, allow: &str) -> String {
        let token_line = format!("token_file = {}\n", self.token_file.display());
        self.conf_text
            .replace(&token_line, &format!("{token_line}allow_from = {allow}\n"))
    }

    fn register(&self, args: &[&str]) -> Run {
        self.register_env(args, &[])
    }

    fn register_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        register(&self.conf, args, env)
    }

    /// Nothing the host owns was written: conf identical, no token, no temporary files.
    fn assert_untouched(&self) {
        assert_eq!(fs::read_to_string(&self.conf).unwrap(), self.conf_text);
        assert!(!self.token_file.exists(), "token file written");
        let names: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["agent.conf"], "stray files");
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn assert_fail(&self, why: &str) {
        assert_eq!(self.code, 1, "{}", self.stdout);
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{}", self.stdout);
        assert_eq!(lines[0], "Agent Register Fail");
        assert!(lines[1].contains(why), "{:?} lacks {why:?}", lines[1]);
    }
}

fn register(conf: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    register_stdin(conf, args, env, None)
}

/// As [`register`], with `stdin` piped to the command (else it reads an empty input).
fn register_stdin(conf: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let started = Instant::now();
    let mut cmd = target_command(BIN);
    cmd.arg("-c")
        .arg(conf)
        .arg("register")
        .args(args)
        .env("AOPS_AGENT_SYSROOT", format!("{FIXTURES}/root"))
        .env_remove("AOPS_AGENT_REGISTER_TIMEOUT_MS")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("ALL_PROXY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// The documented example, pointed at `manager_port`, with `changes` applied.
fn input(manager_port: u16, changes: &[(&str, Value)]) -> String {
    let mut v: Value =
        serde_json::from_str(&fs::read_to_string(format!("{FIXTURES}/register.json")).unwrap())
            .unwrap();
    v["manager_port"] = json!(manager_port.to_string());
    for (k, val) in changes {
        if val.is_null() {
            v.as_object_mut().unwrap().remove(*k);
        } else {
            v[*k] = val.clone();
        }
    }
    v.to_string()
}

fn token_in(path: &Path) -> String {
    let v: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

#[test]
fn success_sends_the_exact_request_and_saves_the_token() {
    let host = Host::new();
    let m = Manager::start(success("tok-123"));
    // No agent_port: the port the agent serves on (agent.conf) is sent.
    let data = input(m.port, &[("agent_port", Value::Null)]);
    let run = host.register(&["-d", &data]);
    assert_eq!(
        (run.code, run.stdout.clone()),
        (
            0,
            format!(
                "Agent Register Success\n{}",
                allow_note(&host.conf, "127.0.0.1")
            )
        )
    );
    let reqs = m.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/manage/host/add")
    );
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.json(),
        json!({"host_name": "host1", "host_group_name": "group1", "management": false,
               "username": "admin", "password": "changeme", "host_id": MACHINE_ID,
               "public_ip": "127.0.0.1", "agent_port": 12000})
    );
    // The token directory did not exist: it was created; the file is 0600 and exact.
    assert_eq!(token_in(&host.token_file), "tok-123");
    let mode = fs::metadata(&host.token_file).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    // Only the manager may call from now on: one line added, every other byte kept.
    assert_eq!(
        fs::read_to_string(&host.conf).unwrap(),
        host.conf_with_allow("127.0.0.1")
    );
    let dir_entries = fs::read_dir(host.token_file.parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(dir_entries, 1, "no temporary file left beside the token");
}

#[test]
fn file_input_and_numeric_ports_and_management_true() {
    let mut host = Host::new();
    // The operator already chose who may call: register leaves allow_from alone.
    host.conf_text = host.conf_with_allow("10.0.0.0/8, 192.168.1.23");
    fs::write(&host.conf, &host.conf_text).unwrap();
    let m = Manager::start(success("t"));
    let f = host.dir.join("register.json");
    fs::write(
        &f,
        input(
            m.port,
            &[
                ("manager_port", json!(m.port)),
                ("agent_port", json!(12000)),
                ("management", json!(true)),
            ],
        ),
    )
    .unwrap();
    let run = host.register(&["-f", &f.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let body = m.requests()[0].json();
    assert_eq!(body["management"], json!(true));
    assert_eq!(body["agent_port"], json!(12000));
    // The given port equals the configured one and allow_from is set: agent.conf is left
    // alone, no restart note.
    assert_eq!(run.stdout, "Agent Register Success\n");
    assert_eq!(fs::read_to_string(&host.conf).unwrap(), host.conf_text);
}

#[test]
fn agent_port_edits_only_the_port_line_and_says_how_to_apply_it() {
    let host = Host::new();
    let m = Manager::start(success("t"));
    let run = host.register(&["-d", &input(m.port, &[("agent_port", json!("12345"))])]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(m.requests()[0].json()["agent_port"], json!(12345));
    assert_eq!(
        fs::read_to_string(&host.conf).unwrap(),
        host.conf_with_allow("127.0.0.1")
            .replace("port = 12000", "port = 12345")
    );
    assert_eq!(
        run.stdout,
        format!(
            "Agent Register Success\n[agent] port in {} is now 12345; to serve on it, run: {RELOAD}\n{}",
            host.conf.display(),
            allow_note(&host.conf, "127.0.0.1")
        )
    );
    // Mode is kept across the atomic replacement.
    fs::set_permissions(&host.conf, fs::Permissions::from_mode(0o640)).unwrap();

    // No port line yet: it is added under [agent], after its last key, in the same layout.
    let without = host
        .conf_with_allow("127.0.0.1")
        .replace("port = 12000\n", "");
    fs::write(&host.conf, &without).unwrap();
    let run = host.register(&["-d", &input(m.port, &[("agent_port", json!(4242))])]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        fs::read_to_string(&host.conf).unwrap(),
        without.replace(
            "allow_from = 127.0.0.1\n",
            "allow_from = 127.0.0.1\nport = 4242\n"
        )
    );
    let mode = fs::metadata(&host.conf).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    let leftovers: Vec<_> = fs::read_dir(host.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn manager_refusals_and_bad_answers_write_nothing() {
    let cases = [
        (
            Answer::Http(200, r#"{"code": 1103, "msg": "wrong password"}"#.into()),
            "the manager refused: code 1103, msg \"wrong password\"",
        ),
        (
            Answer::Http(
                200,
                r#"{"code": 1105, "msg": "host group does not exist"}"#.into(),
            ),
            "the manager refused: code 1105, msg \"host group does not exist\"",
        ),
        (
            Answer::Http(500, r#"{"code": 500}"#.into()),
            "answered HTTP status 500 Internal Server Error instead of 200",
        ),
        (
            Answer::Http(200, "<html>gateway</html>".into()),
            "the manager's answer is not JSON: \"<html>gateway</html>\"",
        ),
        (
            Answer::Http(200, r#"{"code": 200, "msg": "ok", "token": ""}"#.into()),
            "the manager answered code 200 but gave no token",
        ),
    ];
    for (answer, why) in cases {
        let host = Host::new();
        let m = Manager::start(answer);
        let run = host.register(&["-d", &input(m.port, &[("agent_port", json!(12999))])]);
        run.assert_fail(why);
        assert_eq!(m.requests().len(), 1);
        host.assert_untouched();
    }
}

#[test]
fn a_silent_manager_times_out() {
    let host = Host::new();
    let m = Manager::start(Answer::Silent);
    let run = host.register_env(
        &["-d", &input(m.port, &[])],
        &[("AOPS_AGENT_REGISTER_TIMEOUT_MS", "1000")],
    );
    run.assert_fail(&format!(
        "timed out: the manager at 127.0.0.1:{} did not answer within 1 s",
        m.port
    ));
    assert!(
        run.took >= Duration::from_millis(900) && run.took < Duration::from_secs(5),
        "{:?}",
        run.took
    );
    assert_eq!(m.requests().len(), 1, "the request was sent");
    host.assert_untouched();
}

#[test]
fn a_refused_connection_names_the_address_and_os_error() {
    let host = Host::new();
    let port = free_port();
    let run = host.register(&["-d", &input(port, &[])]);
    run.assert_fail(&format!(
        "cannot connect to the manager at 127.0.0.1:{port}: Connection refused (os error 111)"
    ));
    host.assert_untouched();
}

#[test]
fn invalid_input_names_the_key_and_contacts_nobody() {
    let host = Host::new();
    let m = Manager::start(success("t"));
    let mut cases: Vec<(Vec<(&str, Value)>, String)> = Vec::new();
    for key in [
        "web_username",
        "web_password",
        "host_name",
        "host_group_name",
        "manager_ip",
        "manager_port",
        "management",
    ] {
        // A missing password is asked for (see password_from_standard_input).
        if key != "web_password" {
            cases.push((
                vec![(key, Value::Null)],
                format!("invalid registration: \"{key}\" is missing, expected "),
            ));
        }
        let wrong = if key == "management" {
            json!("no")
        } else {
            json!([])
        };
        let got = if key == "management" {
            "a string"
        } else {
            "an array"
        };
        cases.push((
            vec![(key, wrong)],
            format!("invalid registration: \"{key}\" is {got}, expected "),
        ));
    }
    for (key, value, shown) in [
        ("manager_port", json!("0"), "\"0\""),
        ("manager_port", json!(65536), "65536"),
        ("manager_port", json!("70000"), "\"70000\""),
        ("agent_port", json!(0), "0"),
        ("agent_port", json!("65536"), "\"65536\""),
        ("agent_port", json!(-80), "-80"),
        ("agent_port", json!("http"), "\"http\""),
    ] {
        cases.push((
            vec![(key, value)],
            format!("\"{key}\" is {shown}, expected a port number from 1 to 65535"),
        ));
    }
    cases.push((
        vec![("host_name", json!("  "))],
        "\"host_name\" is empty, expected a non-empty string".into(),
    ));
    // The manager's columns are 20 characters wide.
    cases.push((
        vec![("host_name", json!("h".repeat(21)))],
        "\"host_name\" is 21 characters long, expected at most 20".into(),
    ));
    cases.push((
        vec![("host_group_name", json!("\u{e9}".repeat(25)))],
        "\"host_group_name\" is 25 characters long, expected at most 20".into(),
    ));
    for (changes, why) in &cases {
        let mut all = changes.clone();
        if !changes.iter().any(|(k, _)| *k == "manager_port") {
            all.push(("manager_port", json!(m.port)));
        }
        host.register(&["-d", &input(m.port, &all)])
            .assert_fail(why);
    }
    // Several problems: all named in the one line.
    host.register(&[
        "-d",
        &input(
            m.port,
            &[("host_name", Value::Null), ("agent_port", json!(0))],
        ),
    ])
    .assert_fail("\"host_name\" is missing, expected a non-empty string; \"agent_port\" is 0");

    let missing = host.dir.join("nope.json");
    host.register(&["-f", &missing.display().to_string()])
        .assert_fail(&format!(
            "cannot read {}: No such file or directory (os error 2)",
            missing.display()
        ));
    let not_json = host.dir.join("broken.json");
    fs::write(&not_json, "web_username=admin\n").unwrap();
    host.register(&["-f", &not_json.display().to_string()])
        .assert_fail(&format!("{} is not JSON: ", not_json.display()));
    fs::remove_file(&not_json).unwrap();
    host.register(&["-d", "{\"web_username\": "])
        .assert_fail("the -d argument is not JSON: EOF while parsing");
    host.register(&["-d", "[]"])
        .assert_fail("the -d argument must be a JSON object, not an array");

    assert!(m.requests().is_empty(), "the manager was contacted");
    host.assert_untouched();
}

#[test]
fn without_a_host_id_nothing_is_sent() {
    let host = Host::new();
    let m = Manager::start(success("t"));
    let empty_root = TempDir::new("register-noid");
    let root = empty_root.path().display().to_string();
    let run = host.register_env(
        &["-d", &input(m.port, &[])],
        &[("AOPS_AGENT_SYSROOT", &root)],
    );
    run.assert_fail("cannot determine host_id: no SMBIOS system UUID, and ");
    assert!(m.requests().is_empty());
    host.assert_untouched();
}

#[test]
fn a_token_that_cannot_be_saved_leaves_no_partial_file() {
    let host = Host::new();
    // The token path is a non-empty directory: the final rename fails.
    fs::create_dir_all(host.token_file.join("occupied")).unwrap();
    let m = Manager::start(success("t"));
    let run = host.register(&["-d", &input(m.port, &[("agent_port", json!(12999))])]);
    run.assert_fail(&format!(
        "the manager accepted this host, but the token could not be saved to {}",
        host.token_file.display()
    ));
    let beside: Vec<String> = fs::read_dir(host.token_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, ["agent_token.json"], "a temporary file was left");
    assert!(host.token_file.join("occupied").is_dir());
    assert_eq!(fs::read_to_string(&host.conf).unwrap(), host.conf_text);
}

#[test]
fn a_running_agent_accepts_the_new_token_without_restart() {
    let a = Agent::start_with(Options {
        registered: false,
        ..Options::default()
    });
    let collect = |token: &str| {
        a.request("POST", "/v1/agent/file/collect", Some(token), Some("[]"))
            .json()
    };
    assert_eq!(collect("first")["code"], 1201);
    let m = Manager::start(success("first"));
    let run = register(
        &a.conf,
        &["-d", &input(m.port, &[("agent_port", Value::Null)])],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    // The agent's own port (from its agent.conf) was reported.
    assert_eq!(m.requests()[0].json()["agent_port"], json!(a.port));
    let served = json!({"success_files": [], "fail_files": [], "infos": []});
    assert_eq!(collect("first"), served);

    // Re-registration replaces the token: the old one stops working at once.
    let m2 = Manager::start(success("second"));
    let run = register(
        &a.conf,
        &["-d", &input(m2.port, &[("agent_port", Value::Null)])],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(collect("second"), served);
    assert_eq!(collect("first")["code"], 1201);
}

#[test]
fn password_from_standard_input_when_the_input_has_none() {
    let host = Host::new();
    let m = Manager::start(success("t"));
    let data = input(m.port, &[("web_password", Value::Null)]);
    let run = register_stdin(&host.conf, &["-d", &data], &[], Some("s3cret pass\n"));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(m.requests()[0].json()["password"], json!("s3cret pass"));
    assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"));
    // Piped in, not typed: no prompt.
    assert_eq!(run.stderr, "");

    // Nothing on standard input: refused before the manager is contacted, nothing written.
    let host = Host::new();
    let m = Manager::start(success("t"));
    let run = register_stdin(&host.conf, &["-d", &data], &[], Some(""));
    run.assert_fail("web_password is not in the input and standard input gave none");
    assert!(m.requests().is_empty());
    host.assert_untouched();
}

#[test]
fn password_typed_on_a_terminal_is_not_echoed() {
    let host = Host::new();
    let m = Manager::start(success("t"));
    let data = input(m.port, &[("web_password", Value::Null)]);
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors; the name, termios and winsize are optional.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors were just opened and are owned here.
    let (master, slave) = unsafe {
        use std::os::fd::FromRawFd;
        (fs::File::from_raw_fd(master), fs::File::from_raw_fd(slave))
    };
    use std::os::fd::AsRawFd;
    let echo_on = || {
        // SAFETY: a valid descriptor and a termios to fill.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(slave.as_raw_fd(), &mut t) }, 0);
        t.c_lflag & libc::ECHO != 0
    };
    assert!(echo_on(), "a fresh terminal echoes");
    let mut cmd = target_command(BIN);
    cmd.arg("-c")
        .arg(&host.conf)
        .args(["register", "-d", &data])
        .env("AOPS_AGENT_SYSROOT", format!("{FIXTURES}/root"))
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = common::capture(child.stderr.take().unwrap());
    // While the password is read, the terminal does not echo.
    let until = Instant::now() + Duration::from_secs(10);
    while echo_on() {
        assert!(Instant::now() < until, "echo was never turned off");
        std::thread::sleep(Duration::from_millis(10));
    }
    (&master).write_all(b"typed-secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    common::wait_for(
        &stderr,
        "Password for \"admin\" on the manager: ",
        Duration::from_secs(5),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(m.requests()[0].json()["password"], json!("typed-secret"));
    // Echo is back on, and what the terminal showed holds no password.
    assert!(echo_on(), "echo was not restored");
    // SAFETY: O_NONBLOCK on our own descriptor, so reading what is there cannot hang.
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut shown = Vec::new();
    let _ = (&master).read_to_end(&mut shown);
    assert!(
        !String::from_utf8_lossy(&shown).contains("typed-secret"),
        "the terminal echoed the password: {:?}",
        String::from_utf8_lossy(&shown)
    );
}

#[test]
fn a_register_file_others_can_read_draws_a_warning() {
    let host = Host::new();
    let m = Manager::start(success("t"));
    let f = host.dir.join("register.json");
    fs::write(&f, input(m.port, &[])).unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
    let run = host.register(&["-f", &f.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.stderr,
        format!(
            "warning: {} holds web_password and can be read by group or others (mode 0644); \
             restrict it with `chmod 600 {}`, or leave web_password out to be asked for it\n",
            f.display(),
            f.display()
        )
    );
    assert!(!run.stderr.contains("changeme"));
    for mode in [0o600, 0o400] {
        fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
        let run = host.register(&["-f", &f.display().to_string()]);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{mode:o}");
    }
    // Readable by all, but without a password: nothing to warn about.
    fs::write(&f, input(m.port, &[("web_password", Value::Null)])).unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
    let run = register_stdin(
        &host.conf,
        &["-f", &f.display().to_string()],
        &[],
        Some("pw\n"),
    );
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
}

#[test]
fn an_ipv6_route_to_the_manager_is_refused_before_contact() {
    let host = Host::new();
    let run = host.register(&["-d", &input(11111, &[("manager_ip", json!("::1"))])]);
    run.assert_fail("this host reaches the manager at [::1]:11111 from ::1, an IPv6 address");
    host.assert_untouched();
}
