//! Who may connect (api.md §4): `[agent] allow_from`, the loopback exemption and the cap of 32
//! connections per address, with clients bound to loopback source addresses other than
//! 127.0.0.1 (127.0.0.2, 127.0.0.3, ...), so no second machine is needed.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{connect_from, free_port, get_raw, request_from, Agent, Options, TempDir, BIN, TOKEN};

const SECOND: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const THIRD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const FOURTH: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
const INFO: &str = "/v1/agent/host/info";

fn agent_allowing(list: &str) -> Agent {
    Agent::start_with(Options {
        agent_conf: format!("allow_from = {list}\n"),
        ..Options::default()
    })
}

fn served(src: Ipv4Addr, a: &Agent) -> bool {
    match request_from(src, a.port, &get_raw(INFO)) {
        Some(r) => {
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.json()["code"], 200);
            true
        }
        None => false,
    }
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[test]
fn allow_from_closes_other_addresses_before_reading_a_byte() {
    let a = agent_allowing("127.0.0.3");
    assert!(served(THIRD, &a), "a listed address is served");
    assert!(served(Ipv4Addr::LOCALHOST, &a), "127.0.0.1 may always call");
    assert!(!served(SECOND, &a), "an unlisted address got an answer");
    a.wait_for_log(
        "WARNING: refused a connection from 127.0.0.2: not in [agent] allow_from of ",
        Duration::from_secs(5),
    );
    // Not a byte of it was read: the request never reached the router (which logs every
    // request at DEBUG, the level these agents run at).
    a.wait_for_log(
        "GET /v1/agent/host/info from 127.0.0.3:",
        Duration::from_secs(5),
    );
    assert!(
        !a.log_text().contains("/v1/agent/host/info from 127.0.0.2:"),
        "{}",
        a.log_text()
    );

    // A burst of refusals: one line a second, the rest counted in the next one.
    for _ in 0..20 {
        assert!(!served(SECOND, &a));
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert!(!served(SECOND, &a));
    a.wait_for_log("rejected since the last such line)", Duration::from_secs(5));
    let log = a.log_text();
    let lines = count(&log, "refused a connection from 127.0.0.2");
    assert!((2..=3).contains(&lines), "{lines} lines:\n{log}");
}

#[test]
fn blocks_and_lists_parse_and_match() {
    let a = agent_allowing("10.0.0.0/8, 127.0.0.0/31,fd00::/8 , 127.0.0.3");
    // 127.0.0.0/31 holds .0 and .1 only; .3 is listed on its own; .2 and .4 are in neither.
    assert!(served(THIRD, &a));
    assert!(!served(SECOND, &a));
    assert!(!served(FOURTH, &a));
    let b = agent_allowing("127.0.0.2/31");
    assert!(served(SECOND, &b) && served(THIRD, &b) && !served(FOURTH, &b));
    a.wait_for_log(
        "connections are accepted from 127.0.0.1, ::1 and 10.0.0.0/8,127.0.0.0/31,fd00::/8,127.0.0.3",
        Duration::from_secs(5),
    );
    // Without the key, anyone may call.
    let open = Agent::start();
    assert!(served(SECOND, &open) && served(FOURTH, &open));
    open.wait_for_log(
        "connections are accepted from any address (no [agent] allow_from in ",
        Duration::from_secs(5),
    );
}

/// Runs the agent on `conf` expecting it to refuse to start; returns what it said.
fn refused_start(conf: &str) -> String {
    let d = TempDir::new("admission-bad");
    let path = d.join("agent.conf");
    std::fs::write(&path, conf).unwrap();
    let out = common::target_command(BIN)
        .arg("-c")
        .arg(&path)
        .arg("start")
        .env("AOPS_AGENT_LOG", "stderr")
        .env_remove("LISTEN_FDS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the agent started on {conf:?}");
    String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE")
}

#[test]
fn bad_values_stop_the_agent_naming_file_key_and_value() {
    let port = free_port();
    for (value, says) in [
        (
            "10.0.0.300",
            "\"10.0.0.300\" is not an IPv4 or IPv6 address or CIDR block",
        ),
        ("manager.example", "is not an IPv4 or IPv6 address"),
        ("10.0.0.0/33", "prefix length that is not 0 to 32"),
        ("10.1.2.3/8", "the block starts at 10.0.0.0/8"),
        ("10.0.0.1,,10.0.0.2", "an entry is empty"),
        ("", "an entry is empty"),
    ] {
        let said = refused_start(&format!(
            "[agent]\nip=127.0.0.1\nport={port}\nallow_from={value}\n"
        ));
        let head = format!(
            "aops_agent: FILE: [agent] allow_from = \"{value}\" is invalid: expected \
             comma-separated IPv4/IPv6 addresses or CIDR blocks ("
        );
        assert!(said.starts_with(&head), "{said}");
        assert!(said.contains(says), "{value:?}: {said}");
    }
    let said = refused_start(&format!(
        "[agent]\nport={port}\n[file_collect]\ndeny=/etc/ok, relative/path\n"
    ));
    assert!(
        said.starts_with(
            "aops_agent: FILE: [file_collect] deny = \"/etc/ok, relative/path\" is invalid: \
             expected comma-separated absolute paths or `*` globs (\"relative/path\" is not an \
             absolute path)"
        ),
        "{said}"
    );
}

/// Raises this process's open-file limit (600 held connections and the tests beside them).
fn raise_fd_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit with a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= 1024,
        "open-file limit {} is too low for this test",
        lim.rlim_cur
    );
}

/// Whether the agent still holds `s` open (no EOF or reset yet).
fn still_open(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let open = matches!((&*s).read(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    open
}

#[test]
fn one_address_cannot_take_every_connection_slot() {
    raise_fd_limit(4096);
    // 127.0.0.2 is allowed: the cap, not allow_from, is what stops it.
    let a = agent_allowing("127.0.0.2, 127.0.0.3");
    let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, a.port);
    let half = format!("GET {INFO} HTTP/1.1\r\nHost: agent\r\naccess_token: {TOKEN}\r\n");
    let mut held = Vec::new();
    let began = Instant::now();
    for _ in 0..600 {
        // Connections the agent has already closed may refuse the write: that is the point.
        let mut s = connect_from(SECOND, dst).expect("connect from 127.0.0.2");
        let _ = s.write_all(half.as_bytes());
        held.push(s);
    }
    for src in [THIRD, Ipv4Addr::LOCALHOST, THIRD] {
        let t = Instant::now();
        assert!(served(src, &a), "{src} was not served");
        let took = t.elapsed();
        // The contract's bound natively; emulation slows every request alike.
        assert!(
            took < Duration::from_secs(1) * common::slowdown(),
            "a request from {src} took {took:?} while 127.0.0.2 held its connections"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let open = held.iter().filter(|s| still_open(s)).count();
    assert_eq!(open, 32, "connections from 127.0.0.2 still open");
    a.wait_for_log(
        "WARNING: refused a connection from 127.0.0.2: that address already holds 32 connections",
        Duration::from_secs(5),
    );
    // At most one line a second for the address (with a count of those held back).
    let lines = count(&a.log_text(), "refused a connection from 127.0.0.2");
    let secs = began.elapsed().as_secs() as usize;
    assert!(lines <= secs + 2, "{lines} refusal lines in {secs} s");

    // Once they go, the address may connect again.
    drop(held);
    let until = Instant::now() + Duration::from_secs(5);
    while !served(SECOND, &a) {
        assert!(Instant::now() < until, "127.0.0.2 was never served again");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Loopback is exempt: 100 connections from 127.0.0.1 are all kept.
    let local: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(dst).unwrap();
            s.write_all(half.as_bytes()).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(local.iter().filter(|s| still_open(s)).count(), 100);
}

/// An agent listening on `[::]` (dual-stack, as systemd's socket may be): IPv4 clients arrive as
/// `::ffff:a.b.c.d` and are matched as `a.b.c.d`.
#[test]
fn mapped_ipv4_peers_are_matched_as_ipv4() {
    let d = TempDir::new("admission-dual");
    let port = free_port();
    let token = d.join("token.json");
    std::fs::write(&token, format!("{{\"access_token\": \"{TOKEN}\"}}")).unwrap();
    let conf = d.join("agent.conf");
    std::fs::write(
        &conf,
        format!(
            "[agent]\nip=::\nport={port}\ntoken_file={}\nallow_from=127.0.0.3\n[log]\nlog_level=DEBUG\n",
            token.display()
        ),
    )
    .unwrap();
    let mut child = common::target_command(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("start")
        .env("AOPS_AGENT_LOG", "stderr")
        .env_remove("LISTEN_FDS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = common::capture(child.stderr.take().unwrap());
    common::wait_for(&log, "serving on [::]:", Duration::from_secs(10));
    let try_from = |src| request_from(src, port, &get_raw(INFO)).map(|r| r.status);
    assert_eq!(try_from(THIRD), Some(200));
    assert_eq!(try_from(Ipv4Addr::LOCALHOST), Some(200));
    assert_eq!(try_from(SECOND), None);
    common::wait_for(
        &log,
        "refused a connection from 127.0.0.2: not in [agent] allow_from",
        Duration::from_secs(5),
    );
    common::wait_for(&log, "from [::ffff:127.0.0.3]:", Duration::from_secs(5));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_body_that_never_arrives_frees_its_connection() {
    let a = Agent::start();
    let mut s = TcpStream::connect(a.addr()).unwrap();
    s.write_all(
        format!(
            "POST /v1/agent/host/info HTTP/1.1\r\nHost: agent\r\naccess_token: {TOKEN}\r\n\
             Content-Length: 100\r\n\r\n[\"cpu\""
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let took = t.elapsed();
    let r = common::parse_response(&buf);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["detail"],
        "Request body did not arrive within 10 s"
    );
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "{took:?}"
    );
}
