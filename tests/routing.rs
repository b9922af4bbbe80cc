//! api.md §1 over real HTTP: routing, methods, shapes, token, envelope.

mod common;

use common::{request, Agent, Options, TOKEN};
use serde_json::json;

const ALL: &[(&str, &str)] = &[
    ("POST", "/v1/agent/plugin/start?plugin_name=gala-gopher"),
    ("POST", "/v1/agent/plugin/stop?plugin_name=gala-gopher"),
    ("GET", "/v1/agent/application/info"),
    ("POST", "/v1/agent/host/info"),
    ("GET", "/v1/agent/host/info"),
    ("GET", "/v1/agent/plugin/info"),
    ("POST", "/v1/agent/collect/items/change"),
    ("POST", "/v1/agent/file/collect"),
];

/// A body of the right shape for each endpoint.
fn good_body(path: &str) -> Option<&'static str> {
    if path.starts_with("/v1/agent/host/info") {
        Some(r#"["os"]"#)
    } else if path.starts_with("/v1/agent/collect/items/change") {
        Some(r#"{"gala-gopher": {"tcp": "on"}}"#)
    } else if path.starts_with("/v1/agent/file/collect") {
        Some(r#"["/etc/hostname"]"#)
    } else {
        None
    }
}

#[test]
fn unknown_path_is_404_problem() {
    let a = Agent::start();
    for path in [
        "/",
        "/v1/agent/nothing",
        "/v1/agent/host/info/",
        "/v1/agent/host",
    ] {
        let r = a.call("GET", path, None);
        assert_eq!(r.status, 404, "{path}");
        let v = r.json();
        assert_eq!(v["status"], 404);
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["type"], "about:blank");
        assert!(v["detail"].as_str().unwrap().contains("not found"));
    }
}

#[test]
fn wrong_method_is_405_with_allow() {
    let a = Agent::start();
    let cases = [
        ("GET", "/v1/agent/plugin/start", "POST"),
        ("DELETE", "/v1/agent/host/info", "GET, POST"),
        ("POST", "/v1/agent/plugin/info", "GET"),
        ("PUT", "/v1/agent/file/collect", "POST"),
        ("POST", "/v1/agent/application/info", "GET"),
    ];
    for (method, path, allow) in cases {
        let r = a.call(method, path, None);
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(
            r.headers.get("allow").map(String::as_str),
            Some(allow),
            "{method} {path}"
        );
        assert_eq!(r.json()["title"], "Method Not Allowed");
    }
}

#[test]
fn missing_token_header_is_400_before_anything_else() {
    let a = Agent::start();
    for (method, path) in ALL {
        // Even with a body of the wrong shape, the header is checked first.
        let r = a.request(method, path, None, Some("not json"));
        assert_eq!(r.status, 400, "{method} {path}");
        assert_eq!(
            r.json(),
            json!({"detail": "Missing header parameter 'access_token'", "status": 400,
                   "title": "Bad Request", "type": "about:blank"})
        );
    }
}

#[test]
fn body_shape_errors_are_400_even_with_a_wrong_token() {
    let a = Agent::start();
    let cases = [
        ("/v1/agent/host/info", "not json", "not valid JSON"),
        ("/v1/agent/host/info", r#"{"cpu": 1}"#, "JSON array"),
        ("/v1/agent/host/info", r#"["cpu", 5]"#, "must be a string"),
        ("/v1/agent/host/info", r#"["cpu", "cpu"]"#, "more than once"),
        ("/v1/agent/host/info", "", "empty"),
        ("/v1/agent/file/collect", r#"{"a": 1}"#, "JSON array"),
        ("/v1/agent/file/collect", r#"[null]"#, "must be a string"),
        ("/v1/agent/collect/items/change", "[1]", "JSON object"),
        ("/v1/agent/collect/items/change", "{", "not valid JSON"),
    ];
    for (path, body, detail) in cases {
        for token in [TOKEN, "wrong"] {
            let r = a.request("POST", path, Some(token), Some(body));
            assert_eq!(r.status, 400, "{path} {body:?}");
            let v = r.json();
            assert!(
                v["detail"].as_str().unwrap().contains(detail),
                "{path} {body:?}: {v}"
            );
            assert_eq!(v["title"], "Bad Request");
        }
    }
}

#[test]
fn missing_plugin_name_is_400() {
    let a = Agent::start();
    for path in [
        "/v1/agent/plugin/start",
        "/v1/agent/plugin/stop",
        "/v1/agent/plugin/stop?x=1",
    ] {
        let r = a.call("POST", path, None);
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.json()["detail"], "Missing query parameter 'plugin_name'");
    }
}

#[test]
fn wrong_token_is_1201_on_every_endpoint_and_logged_without_the_token() {
    let a = Agent::start();
    for (method, path) in ALL {
        let r = a.request(method, path, Some("guess-1234"), good_body(path));
        assert_eq!(
            r.json(),
            json!({"code": 1201, "msg": "the session is invalid"}),
            "{method} {path}"
        );
    }
    a.wait_for_log("wrong access token", std::time::Duration::from_secs(5));
    let log = a.log_text();
    assert!(log.contains("WARNING: rejected /v1/agent/"), "{log}");
    assert!(
        !log.contains("guess-1234"),
        "the presented token must never be logged"
    );
    assert!(!log.contains(TOKEN), "the real token must never be logged");
}

/// A burst of rejected requests is logged as a few lines that count the rest.
#[test]
fn rejections_are_logged_at_most_once_a_second_with_a_count() {
    let a = Agent::start();
    let started = std::time::Instant::now();
    let mut sent = 0;
    while started.elapsed() < std::time::Duration::from_millis(1500) {
        let r = a.request("GET", "/v1/agent/host/info", Some("stale"), None);
        assert_eq!(r.code(), 1201);
        sent += 1;
    }
    let r = a.request("GET", "/v1/agent/plugin/info", Some("stale"), None);
    assert_eq!(r.code(), 1201);
    sent += 1;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = a.request("GET", "/v1/agent/plugin/info", Some("stale"), None);
    assert_eq!(r.code(), 1201);
    sent += 1;
    a.wait_for_log(
        "more rejected since the last such line",
        std::time::Duration::from_secs(5),
    );
    let log = a.log_text();
    let lines = log.matches("WARNING: rejected ").count();
    assert!(
        (2..=4).contains(&lines) && sent > 20,
        "{sent} rejections gave {lines} lines:\n{log}"
    );
}

#[test]
fn unregistered_host_answers_1201_and_says_why() {
    let a = Agent::start_with(Options {
        registered: false,
        ..Options::default()
    });
    a.wait_for_log(
        "this host is not registered",
        std::time::Duration::from_secs(5),
    );
    let r = a.call("GET", "/v1/agent/host/info", None);
    assert_eq!(r.code(), 1201);
    // Registration happens while the agent runs: the next request sees the token.
    std::fs::write(&a.token_file, format!("{{\"access_token\": \"{TOKEN}\"}}")).unwrap();
    let r = a.call("GET", "/v1/agent/host/info", None);
    assert_ne!(r.code(), 1201);
    // Re-registration with a new token: the old one stops working at once.
    std::fs::write(&a.token_file, "{\"access_token\": \"second-token\"}").unwrap();
    assert_eq!(a.call("GET", "/v1/agent/host/info", None).code(), 1201);
    let r = a.request("GET", "/v1/agent/host/info", Some("second-token"), None);
    assert_ne!(r.code(), 1201);
}

#[test]
fn value_errors_are_code_1000() {
    let a = Agent::start();
    let cases = [
        ("POST", "/v1/agent/plugin/start?plugin_name=nginx", None),
        ("POST", "/v1/agent/plugin/stop?plugin_name=", None),
        ("POST", "/v1/agent/host/info", Some(r#"["cpu", "gpu"]"#)),
        (
            "POST",
            "/v1/agent/file/collect",
            Some(r#"["/etc/hosts", ""]"#),
        ),
        ("POST", "/v1/agent/collect/items/change", None),
        ("POST", "/v1/agent/collect/items/change", Some("{}")),
        (
            "POST",
            "/v1/agent/collect/items/change",
            Some(r#"{"gala-gopher": {"tcp": "maybe"}}"#),
        ),
        (
            "POST",
            "/v1/agent/collect/items/change",
            Some(r#"{"gala-gopher": ["tcp"]}"#),
        ),
    ];
    for (method, path, body) in cases {
        let r = a.call(method, path, body);
        assert_eq!(
            r.json(),
            json!({"code": 1000, "msg": "parameter error"}),
            "{path} {body:?}"
        );
    }
}

#[test]
fn body_over_one_mib_is_413() {
    let a = Agent::start();
    let big = format!("[\"{}\"]", "a".repeat(1024 * 1024));
    let r = a.call("POST", "/v1/agent/file/collect", Some(&big));
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["title"], "Payload Too Large");
    // Chunked, without a declared length: still cut off at the limit.
    let mut raw = format!(
        "POST /v1/agent/host/info HTTP/1.1\r\nHost: x\r\naccess_token: {TOKEN}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let chunk = "b".repeat(64 * 1024);
    for _ in 0..20 {
        raw.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    raw.push_str("0\r\n\r\n");
    let r = common::raw_request(&a.addr(), raw.as_bytes());
    assert_eq!(r.status, 413);
}

#[test]
fn responses_have_sorted_keys() {
    let a = Agent::start();
    let r = a.call("GET", "/v1/agent/nothing", None);
    assert!(r.text().starts_with(r#"{"detail":"#), "{}", r.text());
    let r = a.request("GET", "/v1/agent/host/info", Some("wrong"), None);
    assert_eq!(r.text(), r#"{"code":1201,"msg":"the session is invalid"}"#);
}

#[test]
fn requests_are_logged_at_debug_only() {
    let a = Agent::start();
    a.call("GET", "/v1/agent/nothing", None);
    a.wait_for_log(
        "DEBUG: GET /v1/agent/nothing from 127.0.0.1:",
        std::time::Duration::from_secs(5),
    );
    assert!(a.log_text().contains("-> HTTP 404 in "));

    let quiet = Agent::start_with(Options {
        log_level: "warning",
        ..Options::default()
    });
    quiet.call("GET", "/v1/agent/nothing", None);
    quiet.request("GET", "/v1/agent/host/info", Some("bad"), None);
    quiet.wait_for_log("WARNING: rejected", std::time::Duration::from_secs(5));
    let log = quiet.log_text();
    assert!(!log.contains("DEBUG"), "{log}");
    assert!(!log.contains("INFO"), "{log}");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    use std::io::{Read, Write};
    let a = Agent::start();
    let mut s = std::net::TcpStream::connect(a.addr()).unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..n])
            .unwrap()
            .starts_with("HTTP/1.1 404"));
    }
    let _ = request; // shared helper used by other tests
}
