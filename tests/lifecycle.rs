//! The agent as a process: command line, agent.conf errors, listener choice, readiness, stop.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    capture, free_port, target_argv, target_command, unsafe_kill, wait_for, wait_timeout, Agent,
    TempDir, BIN, TOKEN,
};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = target_command(BIN)
        .args(args)
        .env("AOPS_AGENT_LOG", "stderr")
        .env_remove("LISTEN_FDS")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_with_one_line_and_usage() {
    let cases = [
        (
            vec!["frobnicate"],
            "aops_agent: unknown command 'frobnicate'",
        ),
        (
            vec!["start", "--bogus"],
            "aops_agent: unknown option '--bogus'",
        ),
        (vec!["-x"], "aops_agent: unknown option '-x'"),
        (
            vec!["register"],
            "aops_agent: register needs -f FILE or -d JSON",
        ),
        (vec!["start", "-c"], "aops_agent: option -c needs a value"),
        (vec![], "aops_agent: no command given"),
    ];
    for (args, first) in cases {
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        let mut lines = stderr.lines();
        assert_eq!(lines.next(), Some(first), "{args:?}: {stderr}");
        assert!(
            lines.next().unwrap_or("").starts_with("Usage: aops_agent"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn help_version_and_register_help() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("register") && out.contains("--config PATH") && out.contains("journalctl")
    );
    let (code, out, _) = run(&["-V"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("aops_agent {}", env!("CARGO_PKG_VERSION"))
    );
    for flag in ["-H", "--Help"] {
        let (code, out, _) = run(&[flag]);
        assert_eq!(code, 0);
        for key in [
            "web_username",
            "web_password",
            "host_name",
            "host_group_name",
            "manager_ip",
            "manager_port",
            "management",
            "agent_port",
            "Example:",
        ] {
            assert!(out.contains(key), "{flag} lacks {key}: {out}");
        }
        // The example is valid JSON a user can copy.
        let start = out.find('{').unwrap();
        let end = out.rfind('}').unwrap();
        let v: serde_json::Value = serde_json::from_str(&out[start..=end]).unwrap();
        assert_eq!(v["management"], false);
    }
}

#[test]
fn bad_config_values_refuse_to_start_naming_file_section_key_value() {
    let dir = TempDir::new("conf");
    let conf = dir.join("agent.conf");
    let conf_s = conf.to_str().unwrap();
    let cases = [
        ("[agent]\nport=abc\n", "[agent] port = \"abc\" is invalid: expected a port number from 1 to 65535"),
        ("[agent]\nport=70000\n", "[agent] port = \"70000\" is invalid: expected a port number from 1 to 65535"),
        ("[agent]\nip=localhost:1\n", "[agent] ip = \"localhost:1\" is invalid: expected an IPv4 or IPv6 address"),
        ("[log]\nlog_level=LOUD\n", "[log] log_level = \"LOUD\" is invalid: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("[log]\nmax_bytes=-1\n", "[log] max_bytes = \"-1\" is invalid: expected a whole number of bytes"),
        ("[gopher]\nconfig_path=gala.conf\n", "[gopher] config_path = \"gala.conf\" is invalid: expected an absolute path"),
    ];
    for (text, msg) in cases {
        std::fs::write(&conf, text).unwrap();
        let (code, _, stderr) = run(&["-c", conf_s, "start"]);
        assert_eq!(code, 1, "{text}");
        assert_eq!(
            stderr.trim(),
            format!("aops_agent: {conf_s}: {msg}"),
            "{text}"
        );
    }
}

#[test]
fn port_in_use_is_a_clear_error() {
    let dir = TempDir::new("busy");
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let conf = dir.join("agent.conf");
    std::fs::write(&conf, format!("[agent]\nip=127.0.0.1\nport={port}\n")).unwrap();
    let (code, _, stderr) = run(&["-c", conf.to_str().unwrap(), "start"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port}: the port is already in use"
        )),
        "{stderr}"
    );
}

#[test]
fn missing_config_file_means_defaults() {
    // Defaults listen on 127.0.0.1:12000, which may be taken on a developer machine; the log
    // line naming the (absent) file is what matters: defaults were used, nothing refused.
    let dir = TempDir::new("noconf");
    let conf = dir.join("absent.conf");
    let mut child = target_command(BIN)
        .args(["-c", conf.to_str().unwrap(), "start"])
        .env("AOPS_AGENT_LOG", "stderr")
        .env_remove("LISTEN_FDS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = capture(child.stderr.take().unwrap());
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let text = log.lock().unwrap().clone();
        if text.contains("serving on 127.0.0.1:12000")
            || text.contains("cannot listen on 127.0.0.1:12000")
        {
            assert!(!text.contains("is invalid"), "{text}");
            break;
        }
        assert!(Instant::now() < until, "no start-up line: {text}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn socket_activation_serves_on_the_inherited_socket_without_binding() {
    let dir = TempDir::new("activate");
    let inherited = free_port();
    let configured = free_port();
    let token_file = dir.join("tok.json");
    std::fs::write(&token_file, format!("{{\"access_token\": \"{TOKEN}\"}}")).unwrap();
    let conf = dir.join("agent.conf");
    std::fs::write(
        &conf,
        format!(
            "[agent]\nip=127.0.0.1\nport={configured}\ntoken_file={}\n",
            token_file.display()
        ),
    )
    .unwrap();
    let tool = "systemd-socket-activate";
    let mut child = Command::new(tool)
        .arg("-l")
        .arg(format!("127.0.0.1:{inherited}"))
        .args(["-E", "AOPS_AGENT_LOG=stderr"])
        .args(target_argv(BIN))
        .args(["-c", conf.to_str().unwrap(), "start"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is required (Debian package systemd): {e}"));
    let log = capture(child.stderr.take().unwrap());
    wait_for(&log, "Listening on", Duration::from_secs(10));
    // The first connection starts the agent, which must answer it on the socket it inherited.
    let r = common::request(
        &format!("127.0.0.1:{inherited}"),
        "GET",
        "/v1/agent/nothing",
        Some(TOKEN),
        None,
    );
    assert_eq!(r.status, 404);
    wait_for(
        &log,
        &format!("serving on 127.0.0.1:{inherited} (socket from systemd)"),
        Duration::from_secs(5),
    );
    wait_for(
        &log,
        &format!("asks for 127.0.0.1:{configured}"),
        Duration::from_secs(5),
    );
    assert!(
        TcpStream::connect(("127.0.0.1", configured)).is_err(),
        "the agent bound its own socket although systemd passed one"
    );
    unsafe_kill(child.id(), "TERM");
    let status = wait_timeout(&mut child, Duration::from_secs(15)).expect("agent did not stop");
    assert!(status.success(), "{status}: {}", log.lock().unwrap());
}

#[test]
fn readiness_and_stopping_are_notified() {
    let dir = TempDir::new("notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut agent = Agent::start_with(common::Options {
        env: vec![("NOTIFY_SOCKET".into(), sock_path.to_str().unwrap().into())],
        ..Default::default()
    });
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("no READY=1 datagram");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    let status = format!(
        "STATUS=serving on 127.0.0.1:{} (bound from {})",
        agent.port,
        agent.conf.display()
    );
    assert!(msg.lines().any(|l| l == status), "{msg}");
    // Ready means accepting: a request right now is served.
    assert_eq!(agent.call("GET", "/v1/agent/nothing", None).status, 404);

    let exit = agent.terminate();
    let n = sock.recv(&mut buf).expect("no STOPPING=1 datagram");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "STOPPING=1"), "{msg}");
    assert!(exit.success(), "exit after SIGTERM: {exit}");
    // The reader of the agent's stderr may still be on its way to the last lines.
    agent.wait_for_log("SIGTERM received", Duration::from_secs(5));
}

#[test]
fn stop_does_not_wait_for_idle_keep_alive_connections() {
    let mut agent = Agent::start();
    let mut idle = TcpStream::connect(agent.addr()).unwrap();
    idle.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).unwrap() > 0);
    // The connection stays open (keep-alive); SIGTERM must still end the agent, and after it no
    // new connection is accepted.
    let exit = agent.terminate();
    assert!(exit.success());
    assert!(TcpStream::connect(agent.addr()).is_err());
}

#[test]
fn slow_header_client_is_cut_off_while_others_are_served() {
    let agent = Agent::start();
    let mut slow = TcpStream::connect(agent.addr()).unwrap();
    slow.write_all(b"GET /v1/agent/host/info HTTP/1.1\r\nHo")
        .unwrap();
    let started = Instant::now();
    // Meanwhile ordinary clients get answers.
    for _ in 0..5 {
        assert_eq!(agent.call("GET", "/v1/agent/nothing", None).status, 404);
    }
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = Vec::new();
    // The server closes the connection (possibly after a 408 response); a read timeout here
    // means it never did.
    match slow.read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("slow client was not cut off: {e}"),
    }
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "cut off suspiciously early"
    );
    assert_eq!(agent.call("GET", "/v1/agent/nothing", None).status, 404);
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let agent = Agent::start();
    let mut conn = TcpStream::connect(agent.addr()).unwrap();
    conn.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 404"));
    // Then silence: the server must close the connection rather than hold it forever.
    let started = Instant::now();
    let mut rest = Vec::new();
    match conn.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("idle connection was never closed: {e}"),
    }
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "closed suspiciously early"
    );
}
