//! Tests of the gala-gopher 2.x stand-in itself (tests/support/gala_gopher_standin.py): that it
//! answers as each release of gala-gopher does, byte for byte, over raw TCP and through the
//! gopher-ctl stand-in, so that tests of the agent against it test against gala-gopher.
mod common;
#[path = "support/gopher2.rs"]
mod gopher2;

use common::TempDir;
use gopher2::{GopherOptions, GopherStandin, FLAVOURS};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const NEW_CONFIG: &str = "New config takes effect";

fn start(flavour: &str, dir: &TempDir) -> GopherStandin {
    GopherStandin::start(flavour, &dir.join("gopher"), GopherOptions::default())
}

/// One response as raw parts: the status line, the headers but `Date`, the body.
#[derive(Debug)]
struct Reply {
    status_line: String,
    headers: Vec<String>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}: ");
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(&prefix).map(str::to_string))
    }
}

/// Sends the bytes as they are and reads until the server closes.
fn exchange(addr: &str, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf
}

fn parse(buf: &[u8]) -> Reply {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_string();
    let headers: Vec<String> = lines
        .filter(|l| !l.starts_with("Date: "))
        .map(str::to_string)
        .collect();
    let body = buf[end + 4..].to_vec();
    let reply = Reply {
        status_line,
        headers,
        body,
    };
    let len: usize = reply.header("Content-Length").unwrap().parse().unwrap();
    assert_eq!(
        len,
        reply.body.len(),
        "Content-Length and body of {reply:?}"
    );
    reply
}

fn get(g: &GopherStandin, path: &str) -> Reply {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    parse(&exchange(&g.rest_addr(), raw.as_bytes()))
}

/// PUT with a raw body and `Content-Type: application/x-www-form-urlencoded`, as curl -d does.
fn put_raw(g: &GopherStandin, path: &str, body: &[u8]) -> Reply {
    let mut raw = format!(
        "PUT {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    parse(&exchange(&g.rest_addr(), &raw))
}

fn put(g: &GopherStandin, path: &str, json: &str) -> Reply {
    put_raw(g, path, format!("json={json}").as_bytes())
}

/// The reply document of a release: libevent's (2.0.1 on) ends in a newline, libmicrohttpd's
/// (2.0.0) does not; both are cut to 127 bytes by snprintf into a 128-byte buffer.
fn message(flavour: &str, ok: bool, msg: &str) -> Vec<u8> {
    let result = if ok { "success" } else { "failed" };
    let nl = if flavour == "2.0.0" { "" } else { "\n" };
    let mut v = format!("{{ \"result\": \"{result}\", \"message\":\"{msg}\" }}{nl}").into_bytes();
    v.truncate(127);
    v
}

fn json_type(flavour: &str) -> &'static str {
    if flavour == "2.0.0" {
        "applicaton/json" // sic: gala-gopher 2.0.0's rest_server.c
    } else {
        "application/json"
    }
}

fn assert_reply(flavour: &str, r: &Reply, status_line: &str, body: &[u8]) {
    assert_eq!(r.status_line, status_line, "{flavour}: {}", r.text());
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(body),
        "{flavour}"
    );
    assert_eq!(r.body, body, "{flavour}");
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some(json_type(flavour))
    );
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_name_the_build_lacks_is_404_over_rest_and_failed_over_gopher_ctl() {
    // Each name is built into other releases but not into this one.
    for (flavour, lacking) in [
        ("2.0.0", "container"),
        ("2.0.1", "sli"),
        ("2.0.2", "redis_sli"),
        ("master", "sched"),
    ] {
        let dir = TempDir::new("gs-404");
        let g = start(flavour, &dir);
        let r = get(&g, &format!("/{lacking}"));
        let text = if flavour == "2.0.0" {
            "{ \"result\": \"failed\", \"message\":\"Url not found\" }"
        } else {
            "{ \"result\": \"failed\", \"message\":\"url not found\" }\n"
        };
        assert_reply(flavour, &r, "HTTP/1.1 404 Not Found", text.as_bytes());
        assert_reply(
            flavour,
            &get(&g, "/"),
            "HTTP/1.1 404 Not Found",
            text.as_bytes(),
        );
        if gopher2::has_ctl(flavour) {
            let o = g.ctl(&["probe", "get", lacking], &[]);
            assert_eq!(o.status.code(), Some(0), "gopher-ctl answers 0 on failed");
            assert_eq!(
                stdout(&o),
                "{ \"result\": \"failed\", \"message\":\"Failed to get probe config\" }\n"
            );
            let o = g.ctl(&["probe", "set", lacking, "{\"state\":\"running\"}"], &[]);
            assert_eq!(o.status.code(), Some(0));
            assert_eq!(
                stdout(&o),
                "{ \"result\": \"failed\", \"message\":\"invalid probe name\" }\n"
            );
        }
        // A change to a name the build lacks is refused by the probe manager, not the router.
        if flavour != "2.0.0" {
            let r = put(&g, &format!("/{lacking}"), "{\"state\":\"running\"}");
            assert_reply(
                flavour,
                &r,
                "HTTP/1.1 400 Bad Request",
                &message(flavour, false, "invalid probe name"),
            );
        }
    }
}

#[test]
fn a_probe_never_configured_reads_as_an_empty_object() {
    for flavour in FLAVOURS {
        let dir = TempDir::new("gs-empty");
        let g = start(flavour, &dir);
        assert_reply(flavour, &get(&g, "/tcp"), "HTTP/1.1 200 OK", b"{}");
        // Probe names are matched as gala-gopher does, without regard to case.
        assert_reply(flavour, &get(&g, "/TCP"), "HTTP/1.1 200 OK", b"{}");
        if gopher2::has_ctl(flavour) {
            let o = g.ctl(&["probe", "get", "tcp"], &[]);
            assert_eq!(o.status.code(), Some(0));
            assert_eq!(stdout(&o), "{}", "no newline after the document");
        }
        assert_eq!(g.live_state()["tcp"]["configured"], false);
    }
}

#[test]
fn running_without_a_sub_item_is_refused_and_a_failed_change_still_creates_the_probe() {
    for (flavour, created) in [
        ("2.0.0", "unknown"),
        ("2.0.1", "unknown"),
        ("2.0.2", "stopped"),
        ("master", "stopped"),
    ] {
        let dir = TempDir::new("gs-range");
        let g = start(flavour, &dir);
        // io has sub-items, needs no snoopers and does not filter by process.
        let r = put(&g, "/io", "{\"state\":\"running\"}");
        assert_reply(
            flavour,
            &r,
            "HTTP/1.1 400 Bad Request",
            &message(
                flavour,
                false,
                "invalid probe ranges: at least one must be set",
            ),
        );
        let r = put(&g, "/io", "{\"cmd\":{\"probe\":[]}}");
        assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request", "{flavour}");
        let doc = get(&g, "/io");
        let check = if flavour == "2.0.0" {
            ",\"check_cmd\":\"\""
        } else {
            ""
        };
        let bin = if flavour == "2.0.0" {
            ""
        } else {
            "/opt/gala-gopher/extend_probes/ioprobe"
        };
        let want = format!(
            "{{\"cmd\":{{\"bin\":\"{bin}\"{check},\"probe\":[]}},\"snoopers\":{{\"proc_id\":[],\
             \"proc_name\":[],\"pod_id\":[],\"container_id\":[]}},\"params\":{{}},\
             \"state\":\"{created}\"}}"
        );
        assert_reply(flavour, &doc, "HTTP/1.1 200 OK", want.as_bytes());
        // With a sub-item it runs; jvm has none, so it runs as it is.
        let r = put(
            &g,
            "/io",
            "{\"cmd\":{\"probe\":[\"io_err\"]},\"state\":\"running\"}",
        );
        assert_reply(
            flavour,
            &r,
            "HTTP/1.1 200 OK",
            &message(flavour, true, NEW_CONFIG),
        );
        assert_eq!(g.probe_state("io").as_deref(), Some("running"), "{flavour}");
        // A document with no key gala-gopher knows changes nothing and says "Bad request".
        let r = put(&g, "/io", "{}");
        assert_reply(
            flavour,
            &r,
            "HTTP/1.1 400 Bad Request",
            &message(flavour, false, "Bad request"),
        );
        let r = put(&g, "/io", "{\"state\":");
        assert_reply(
            flavour,
            &r,
            "HTTP/1.1 400 Bad Request",
            &message(flavour, false, "invalid json format"),
        );
    }
}

#[test]
fn keys_left_out_keep_their_values_and_a_refused_document_changes_nothing() {
    let dir = TempDir::new("gs-merge");
    let g = start("2.0.1", &dir);
    let ok = message("2.0.1", true, NEW_CONFIG);
    assert_eq!(
        put(
            &g,
            "/proc",
            "{\"cmd\":{\"probe\":[\"proc_io\",\"PROC_FS\"]},\"params\":{\"report_period\":30}}"
        )
        .body,
        ok
    );
    assert_eq!(
        put(&g, "/proc", "{\"params\":{\"sample_period\":100}}").body,
        ok
    );
    assert_eq!(put(&g, "/proc", "{\"state\":\"running\"}").body, ok);
    let want = "{\"cmd\":{\"bin\":\"/opt/gala-gopher/extend_probes/taskprobe\",\"probe\":[\"proc_fs\",\"proc_io\"]},\
                \"snoopers\":{\"proc_id\":[],\"proc_name\":[],\"pod_id\":[],\"container_id\":[]},\
                \"params\":{\"report_period\":30,\"sample_period\":100},\"state\":\"running\"}";
    assert_eq!(get(&g, "/proc").text(), want);
    // A sub-item 2.0.1 lacks refuses the whole document: params and state stay as they were.
    let r = put(
        &g,
        "/proc",
        "{\"cmd\":{\"probe\":[\"proc_io\",\"proc_pygc\"]},\"params\":{\"report_period\":5},\"state\":\"stopped\"}",
    );
    assert_eq!(
        r.body,
        b"{ \"result\": \"failed\", \"message\":\"unsupported probe range: proc_pygc\" }\n"
    );
    assert_eq!(get(&g, "/proc").text(), want);
    let r = put(&g, "/proc", "{\"state\":\"paused\"}");
    assert_eq!(
        r.text(),
        "{ \"result\": \"failed\", \"message\":\"invalid state paused: must be running or stopped\" }\n"
    );
    assert_eq!(put(&g, "/proc", "{\"state\":\"stopped\"}").body, ok);
    assert_eq!(g.probe_state("proc").as_deref(), Some("stopped"));
}

#[test]
fn release_2_0_2_refuses_tcp_socket_and_container_without_snoopers() {
    let dir = TempDir::new("gs-snoop");
    let g = start("2.0.2", &dir);
    for name in ["tcp", "socket", "container"] {
        let sub = match name {
            "tcp" => "\"cmd\":{\"probe\":[\"tcp_rtt\"]},",
            "socket" => "\"cmd\":{\"probe\":[\"tcp_socket\"]},",
            _ => "",
        };
        let empty = format!("{{ \"result\": \"failed\", \"message\":\"the snooper for {name} cannot be empty\" }}\n");
        let r = put(
            &g,
            &format!("/{name}"),
            &format!("{{{sub}\"state\":\"running\"}}"),
        );
        assert_reply("2.0.2", &r, "HTTP/1.1 400 Bad Request", empty.as_bytes());
        // Empty snoopers are refused whatever the state asked for.
        let r = put(
            &g,
            &format!("/{name}"),
            &format!("{{{sub}\"snoopers\":{{\"proc_id\":[]}},\"state\":\"stopped\"}}"),
        );
        assert_reply("2.0.2", &r, "HTTP/1.1 400 Bad Request", empty.as_bytes());
        // 2.0.2 has no blacklist: the key is not one it knows, so it does not help.
        let r = put(
            &g,
            &format!("/{name}"),
            &format!("{{{sub}\"blacklist\":{{}},\"state\":\"running\"}}"),
        );
        assert_reply("2.0.2", &r, "HTTP/1.1 400 Bad Request", empty.as_bytes());
        let o = g.ctl(
            &[
                "probe",
                "set",
                name,
                &format!("{{{sub}\"snoopers\":{{\"proc_name\":[{{\"comm\":\"java\"}}]}},\"state\":\"running\"}}"),
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(
            stdout(&o),
            "{ \"result\": \"success\", \"message\":\"New config takes effect\" }\n"
        );
        assert_eq!(g.probe_state(name).as_deref(), Some("running"));
    }
    // The rule is 2.0.2's: 2.0.1 takes the same document without snoopers.
    let dir = TempDir::new("gs-snoop1");
    let g = start("2.0.1", &dir);
    let r = put(
        &g,
        "/tcp",
        "{\"cmd\":{\"probe\":[\"tcp_rtt\"]},\"state\":\"running\"}",
    );
    assert_reply(
        "2.0.1",
        &r,
        "HTTP/1.1 200 OK",
        &message("2.0.1", true, NEW_CONFIG),
    );
}

#[test]
fn master_refuses_every_change_to_a_filtering_probe_until_it_has_snoopers_or_a_blacklist() {
    let dir = TempDir::new("gs-black");
    let g = start("master", &dir);
    let refused = |name: &str| {
        format!(
            "{{ \"result\": \"failed\", \"message\":\"the snoopers or blacklist of {name} must be set\" }}\n"
        )
    };
    for name in [
        "baseinfo",
        "flamegraph",
        "l7",
        "tcp",
        "socket",
        "proc",
        "jvm",
        "tprofiling",
        "container",
        "sermant",
        "sli",
    ] {
        let r = put(&g, &format!("/{name}"), "{\"state\":\"stopped\"}");
        assert_reply(
            "master",
            &r,
            "HTTP/1.1 400 Bad Request",
            refused(name).as_bytes(),
        );
    }
    // A document with no key gala-gopher knows is still just a bad request.
    let r = put(&g, "/tcp", "{\"unknown\":1}");
    assert_reply(
        "master",
        &r,
        "HTTP/1.1 400 Bad Request",
        &message("master", false, "Bad request"),
    );
    let r = put(
        &g,
        "/tcp",
        "{\"cmd\":{\"probe\":[\"tcp_rtt\"]},\"params\":{\"report_period\":5}}",
    );
    assert_reply(
        "master",
        &r,
        "HTTP/1.1 400 Bad Request",
        refused("tcp").as_bytes(),
    );
    // "blacklist": {} observes everything; from then on the probe takes any change.
    let r = put(
        &g,
        "/tcp",
        "{\"cmd\":{\"probe\":[\"tcp_rtt\"]},\"blacklist\":{},\"state\":\"running\"}",
    );
    assert_reply(
        "master",
        &r,
        "HTTP/1.1 200 OK",
        &message("master", true, NEW_CONFIG),
    );
    let r = put(&g, "/tcp", "{\"state\":\"stopped\"}");
    assert_reply(
        "master",
        &r,
        "HTTP/1.1 200 OK",
        &message("master", true, NEW_CONFIG),
    );
    assert_eq!(g.live_state()["tcp"]["blacklist"], serde_json::json!({}));
    // Non-empty snoopers do as well.
    let r = put(
        &g,
        "/jvm",
        "{\"snoopers\":{\"proc_id\":[1234]},\"state\":\"running\"}",
    );
    assert_reply(
        "master",
        &r,
        "HTTP/1.1 200 OK",
        &message("master", true, NEW_CONFIG),
    );
    // Probes that do not filter need neither.
    let r = put(
        &g,
        "/io",
        "{\"cmd\":{\"probe\":[\"io_err\"]},\"state\":\"running\"}",
    );
    assert_reply(
        "master",
        &r,
        "HTTP/1.1 200 OK",
        &message("master", true, NEW_CONFIG),
    );
    let r = put(&g, "/virt", "{\"state\":\"running\"}");
    assert_reply(
        "master",
        &r,
        "HTTP/1.1 200 OK",
        &message("master", true, NEW_CONFIG),
    );
}

#[test]
fn a_sub_item_the_build_lacks_is_named_in_the_refusal_with_a_final_dot_on_master() {
    let cases = [
        (
            "2.0.0",
            "/tcp",
            "tcp_delay",
            "unsupported probe range: tcp_delay",
        ),
        (
            "2.0.1",
            "/proc",
            "proc_pygc",
            "unsupported probe range: proc_pygc",
        ),
        ("2.0.2", "/sli", "cpu", "unsupported probe range: cpu"),
        (
            "2.0.2",
            "/tprofiling",
            "python_gc",
            "unsupported probe range: python_gc",
        ),
        (
            "master",
            "/proc",
            "bogus",
            "unsupported probe range: bogus.",
        ),
    ];
    for (flavour, path, item, msg) in cases {
        let dir = TempDir::new("gs-unsup");
        let g = start(flavour, &dir);
        let black = if flavour == "master" {
            ",\"blacklist\":{}"
        } else {
            ""
        };
        let r = put(
            &g,
            path,
            &format!("{{\"cmd\":{{\"probe\":[\"{item}\"]}}{black}}}"),
        );
        assert_reply(
            flavour,
            &r,
            "HTTP/1.1 400 Bad Request",
            &message(flavour, false, msg),
        );
    }
    // What each lacks, the next release has.
    for (flavour, path, item) in [
        ("2.0.1", "/tcp", "tcp_delay"),
        ("2.0.2", "/proc", "proc_pygc"),
        ("master", "/sli", "cpu"),
        ("master", "/tprofiling", "python_gc"),
    ] {
        let dir = TempDir::new("gs-sup");
        let g = start(flavour, &dir);
        let black = if flavour == "master" {
            ",\"blacklist\":{}"
        } else {
            ""
        };
        let r = put(
            &g,
            path,
            &format!("{{\"cmd\":{{\"probe\":[\"{item}\"]}}{black}}}"),
        );
        assert_reply(
            flavour,
            &r,
            "HTTP/1.1 200 OK",
            &message(flavour, true, NEW_CONFIG),
        );
    }
}

#[test]
fn release_2_0_0_decodes_the_form_and_caps_the_value_at_2048_bytes() {
    let dir = TempDir::new("gs-form");
    let g = start("2.0.0", &dir);
    let body = "json=%7B%22cmd%22%3A%7B%22probe%22%3A%5B%22io_err%22%5D%7D%2C+%22state%22%3A+%22running%22%7D";
    let r = put_raw(&g, "/io", body.as_bytes());
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 200 OK",
        &message("2.0.0", true, NEW_CONFIG),
    );
    assert_eq!(g.probe_state("io").as_deref(), Some("running"));
    assert_eq!(
        g.changes().last().unwrap().body,
        body.as_bytes(),
        "recorded as received"
    );
    // The same body to 2.0.1 is not JSON: it takes the bytes as they are.
    let dir1 = TempDir::new("gs-form1");
    let g1 = start("2.0.1", &dir1);
    let r = put_raw(&g1, "/io", body.as_bytes());
    assert_reply(
        "2.0.1",
        &r,
        "HTTP/1.1 400 Bad Request",
        b"{ \"result\": \"failed\", \"message\":\"invalid json format\" }\n",
    );
    let r = put_raw(&g1, "/io", b"{\"state\":\"running\"}");
    assert_reply(
        "2.0.1",
        &r,
        "HTTP/1.1 400 Bad Request",
        b"{ \"result\": \"failed\", \"message\":\"put data must start with json=\" }\n",
    );

    // A value of n bytes: {"params":{"x":"aaa…"}} padded to n.
    let value = |n: usize| {
        let head = "{\"params\":{\"x\":\"";
        let tail = "\"}}";
        format!("{head}{}{tail}", "a".repeat(n - head.len() - tail.len()))
    };
    // 2046 bytes go through; 2047 are cut to 2046 by snprintf (no longer JSON); more than
    // 2047 are dropped ("Bad request"), and nothing changes.
    let r = put_raw(&g, "/io", format!("json={}", value(2046)).as_bytes());
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 200 OK",
        &message("2.0.0", true, NEW_CONFIG),
    );
    let r = put_raw(&g, "/io", format!("json={}", value(2047)).as_bytes());
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 400 Bad Request",
        b"{ \"result\": \"failed\", \"message\":\"invalid json format\" }",
    );
    let before = g.live_state()["io"].clone();
    for n in [2048, 4000] {
        let r = put_raw(&g, "/io", format!("json={}", value(n)).as_bytes());
        assert_reply(
            "2.0.0",
            &r,
            "HTTP/1.1 400 Bad Request",
            b"{ \"result\": \"failed\", \"message\":\"Bad request\" }",
        );
    }
    assert_eq!(g.live_state()["io"], before);
    // The cap is on the decoded value: 700 escapes of 3 bytes are 700 bytes.
    let escaped = format!(
        "json=%7B%22params%22%3A%7B%22x%22%3A%22{}%22%7D%7D",
        "%61".repeat(700)
    );
    let r = put_raw(&g, "/io", escaped.as_bytes());
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 200 OK",
        &message("2.0.0", true, NEW_CONFIG),
    );
    // Only the first field is seen, and only when it is "json".
    let r = put_raw(&g, "/io", b"x=1&json={\"state\":\"stopped\"}");
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 400 Bad Request",
        b"{ \"result\": \"failed\", \"message\":\"Bad request\" }",
    );
    // Without a form content type libmicrohttpd gets no post processor: the connection is
    // closed without a reply.
    let raw = b"PUT /io HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
                Content-Type: application/json\r\nContent-Length: 24\r\n\r\njson={\"state\":\"stopped\"}";
    assert_eq!(exchange(&g.rest_addr(), raw), b"");
    assert_eq!(g.requests().last().unwrap().status, None);
    assert_eq!(g.probe_state("io").as_deref(), Some("running"));
}

#[test]
fn a_long_message_is_cut_at_127_bytes_and_is_no_longer_json() {
    let long = "x".repeat(150);
    for flavour in FLAVOURS {
        let dir = TempDir::new("gs-cut");
        let g = start(flavour, &dir);
        let black = if flavour == "master" {
            ",\"blacklist\":{}"
        } else {
            ""
        };
        let r = put(
            &g,
            "/proc",
            &format!("{{\"cmd\":{{\"probe\":[\"{long}\"]}}{black}}}"),
        );
        assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
        let want = format!(
            "{{ \"result\": \"failed\", \"message\":\"unsupported probe range: {}",
            "x".repeat(127 - 58)
        );
        assert_eq!(r.body.len(), 127, "{flavour}");
        assert_eq!(r.text(), want, "{flavour}");
        assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
        if gopher2::has_ctl(flavour) {
            let o = g.ctl(
                &[
                    "probe",
                    "set",
                    "proc",
                    &format!("{{\"cmd\":{{\"probe\":[\"{long}\"]}}{black}}}"),
                ],
                &[],
            );
            assert_eq!(o.status.code(), Some(0));
            assert_eq!(stdout(&o), want, "gopher-ctl prints the same cut reply");
        }
    }
}

#[test]
fn gopher_ctl_exits_0_when_answered_and_255_with_the_reason_when_the_daemon_is_down() {
    let dir = TempDir::new("gs-ctl");
    let mut g = start("2.0.2", &dir);
    let o = g.ctl(&["probe", "set", "io", "{\"state\":\"running\"}"], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "{ \"result\": \"failed\", \"message\":\"invalid probe ranges: at least one must be set\" }\n"
    );
    let o = g.ctl(&["probe", "frob", "io"], &[]);
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(
        stdout(&o),
        "Unknown probe operation: frob\nUsage:\n   gopher-ctl probe get <probe_name>\n   \
         gopher-ctl probe set <probe_name> <probe_config>\n   gopher-ctl metric\n"
    );
    let o = g.ctl(&["probe", "set", "io"], &[]);
    assert_eq!(o.status.code(), Some(255));
    assert!(stdout(&o).starts_with("Please specify the probe config\nUsage:\n"));
    assert_eq!(
        g.stop().and_then(|s| s.code()),
        Some(0),
        "SIGTERM exits cleanly"
    );
    // The socket file stays behind, as gala-gopher leaves it: nobody listens on it.
    let o = g.ctl(&["probe", "get", "io"], &[]);
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(
        stdout(&o),
        "Failed to connect to gopher cmd server, err=Connection refused\n"
    );
    let missing = dir.join("missing.sock").display().to_string();
    let o = g.ctl(
        &["probe", "get", "io"],
        &[("GOPHER_STANDIN_SOCKET", missing.as_str())],
    );
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(
        stdout(&o),
        "Failed to connect to gopher cmd server, err=No such file or directory\n"
    );
    assert_eq!(g.ctl_invocations().len(), 5, "every run is logged");
    assert_eq!(
        g.ctl_invocations()[0],
        ["probe", "set", "io", "{\"state\":\"running\"}"]
    );
}

#[test]
fn gopher_ctl_hangs_on_request_until_killed() {
    let dir = TempDir::new("gs-hang");
    let g = start("2.0.2", &dir);
    let mut cmd = Command::new(gopher2::ctl_program());
    cmd.args(["probe", "get", "io"])
        .env("GOPHER_STANDIN_HANG", "1");
    for (k, v) in g.ctl_env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still hanging after {:?}",
        t.elapsed()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(g.ctl_invocations(), vec![vec!["probe", "get", "io"]]);
    assert!(
        g.requests().is_empty(),
        "a hung gopher-ctl never reached the daemon"
    );
}

#[test]
fn rest_is_off_without_rest_api_on_and_gopher_ctl_still_works() {
    let dir = TempDir::new("gs-norest");
    let g = GopherStandin::start(
        "2.0.2",
        &dir.join("gopher"),
        GopherOptions {
            no_rest: true,
            ..Default::default()
        },
    );
    assert_eq!(g.rest_port_opt(), None);
    assert_eq!(
        std::fs::read_to_string(dir.join("gopher/ready")).unwrap(),
        "none\n"
    );
    let o = g.ctl(&["probe", "set", "virt", "{\"state\":\"running\"}"], &[]);
    assert_eq!(
        stdout(&o),
        "{ \"result\": \"success\", \"message\":\"New config takes effect\" }\n"
    );
    let reqs = g.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (
            reqs[0].channel.as_str(),
            reqs[0].method.as_str(),
            reqs[0].probe.as_str()
        ),
        ("ctl", "set", "virt")
    );
    assert_eq!(reqs[0].body_text(), "{\"state\":\"running\"}");
    // 2.0.0 and 2.0.1 always run REST and have no gopher-ctl: asking otherwise is refused.
    for (flavour, extra) in [("2.0.1", "--no-rest"), ("2.0.0", "--cmd-socket")] {
        let mut cmd = Command::new("python3");
        cmd.arg(gopher2::script())
            .args(["daemon", "--flavour", flavour, "--state"])
            .arg(dir.join("refused"))
            .arg(extra);
        if extra == "--cmd-socket" {
            cmd.arg(dir.join("x.sock"));
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{flavour} {extra}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(flavour));
    }
}

#[test]
fn master_answers_for_the_probes_of_gala_gopher_custom_json() {
    let dir = TempDir::new("gs-custom");
    let custom = dir.join("gala-gopher-custom.json");
    std::fs::write(
        &custom,
        "{\"myprobe\": {\"bin\": \"/opt/x\"}, \"other\": {}}",
    )
    .unwrap();
    let g = GopherStandin::start(
        "master",
        &dir.join("gopher"),
        GopherOptions {
            custom: Some(custom.clone()),
            ..Default::default()
        },
    );
    assert_eq!(get(&g, "/myprobe").body, b"{}");
    let r = put(&g, "/other", "{\"state\":\"running\"}");
    assert_eq!(r.body, message("master", true, NEW_CONFIG));
    assert_eq!(g.probe_state("other").as_deref(), Some("running"));
    let names: Vec<String> = g
        .live_state()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(names.contains(&"myprobe".to_string()) && names.len() == 23);
    // 2.0.2 predates the custom file.
    let o = Command::new("python3")
        .arg(gopher2::script())
        .args(["daemon", "--flavour", "2.0.2", "--state"])
        .arg(dir.join("refused"))
        .arg("--custom")
        .arg(&custom)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// A probes.init: comments and blank lines, JSON with blanks inside, 32 probe lines, and a last
/// line without its newline (which `while read line` never sees).
fn busy_probes_init() -> String {
    let mut s = String::from(
        "# Configure in this file to init probes when gala-gopher service started.\n\n",
    );
    s.push_str("io {\"cmd\": {\"probe\": [\"io_err\",\t\"io_count\"]},\n");
    s.pop();
    s.push_str(" \"state\" : \"running\"}\n");
    s.push_str("   # indented comment\n");
    s.push_str("tcp\t{\"cmd\":{\"probe\":[\"tcp_rtt\"]},  \"snoopers\": {\"proc_name\": [{\"comm\": \"java\"}]}, \"state\":\"running\"}\n");
    for i in 0..30 {
        s.push_str(&format!(
            "virt {{\"params\": {{\"report_period\": {}}}}}\n",
            i + 1
        ));
    }
    s.push_str("kafka {\"state\":\"running\"}");
    s
}

#[test]
fn replay_deletes_whitespace_sends_at_most_30_lines_and_skips_comments() {
    let dir = TempDir::new("gs-replay");
    let g = start("2.0.2", &dir);
    let init = dir.join("probes.init");
    std::fs::write(&init, busy_probes_init()).unwrap();
    assert!(g.init_probes("--replay", &init).success());
    let sent: Vec<(String, String)> = g
        .changes()
        .iter()
        .map(|r| (r.probe.clone(), r.body_text()))
        .collect();
    assert_eq!(sent.len(), 30, "{sent:?}");
    assert_eq!(
        sent[0],
        (
            "io".to_string(),
            "{\"cmd\":{\"probe\":[\"io_err\",\"io_count\"]},\"state\":\"running\"}".to_string()
        )
    );
    assert_eq!(
        sent[1].1,
        "{\"cmd\":{\"probe\":[\"tcp_rtt\"]},\"snoopers\":{\"proc_name\":[{\"comm\":\"java\"}]},\"state\":\"running\"}"
    );
    assert_eq!(sent[29].1, "{\"params\":{\"report_period\":28}}");
    assert!(sent
        .iter()
        .all(|(_, b)| !b.chars().any(char::is_whitespace)));
    assert!(g.requests().iter().all(|r| r.channel == "ctl"));
    assert_eq!(g.probe_state("io").as_deref(), Some("running"));
    assert_eq!(g.probe_state("tcp").as_deref(), Some("running"));
    assert_eq!(
        g.probe_state("kafka"),
        None,
        "beyond the cap, and without a newline"
    );
    assert!(
        g.ctl_invocations().is_empty(),
        "replay is not the agent's gopher-ctl"
    );

    // 2.0.1's script replayed over REST, with curl -d json=...
    let dir1 = TempDir::new("gs-replay1");
    let g1 = start("2.0.1", &dir1);
    let init1 = dir1.join("probes.init");
    std::fs::write(
        &init1,
        "io {\"cmd\": {\"probe\": [\"io_err\"]}, \"state\": \"running\"}\n",
    )
    .unwrap();
    assert!(g1.init_probes("--replay", &init1).success());
    let r = &g1.changes()[0];
    assert_eq!((r.channel.as_str(), r.method.as_str()), ("rest", "PUT"));
    assert_eq!(
        r.body_text(),
        "json={\"cmd\":{\"probe\":[\"io_err\"]},\"state\":\"running\"}"
    );
    assert_eq!(g1.probe_state("io").as_deref(), Some("running"));
}

#[test]
fn save_rewrites_probes_init_from_live_state_and_a_restart_replays_it() {
    let dir = TempDir::new("gs-save");
    let mut g = start("2.0.2", &dir);
    let ok = "{ \"result\": \"success\", \"message\":\"New config takes effect\" }\n";
    for (name, doc) in [
        (
            "io",
            "{\"cmd\":{\"probe\":[\"page_cache\",\"io_err\"]},\"state\":\"running\"}",
        ),
        (
            "baseinfo",
            "{\"cmd\":{\"probe\":[\"cpu\"]},\"params\":{\"report_period\":5}}",
        ),
        ("lvs", "{\"state\":\"running\"}"),
    ] {
        assert_eq!(
            stdout(&g.ctl(&["probe", "set", name, doc], &[])),
            ok,
            "{name}"
        );
    }
    let init = dir.join("probes.init");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gala-gopher/2.x/probes.init"
        ),
        &init,
    )
    .unwrap();
    assert!(g.init_probes("--save", &init).success());
    let saved = std::fs::read_to_string(&init).unwrap();
    // In the script's order; the comments are gone (the file is truncated first), and lvs is
    // not in 2.0.2's list of probes to save.
    let want = "baseinfo {\"cmd\":{\"bin\":\"system_infos\",\"probe\":[\"cpu\"]},\"snoopers\":{\"proc_id\":[],\
                \"proc_name\":[],\"pod_id\":[],\"container_id\":[]},\"params\":{\"report_period\":5},\
                \"state\":\"stopped\"}\n\
                io {\"cmd\":{\"bin\":\"/opt/gala-gopher/extend_probes/ioprobe\",\"probe\":[\"io_err\",\"page_cache\"]},\
                \"snoopers\":{\"proc_id\":[],\"proc_name\":[],\"pod_id\":[],\"container_id\":[]},\"params\":{},\
                \"state\":\"running\"}\n";
    assert_eq!(saved, want);
    g.stop();

    let dir2 = TempDir::new("gs-save2");
    let g2 = start("2.0.2", &dir2);
    assert_eq!(
        g2.probe_state("io"),
        None,
        "a new daemon starts with every probe off"
    );
    assert!(g2.init_probes("--replay", &init).success());
    assert_eq!(g2.probe_state("io").as_deref(), Some("running"));
    assert_eq!(g2.probe_state("baseinfo").as_deref(), Some("stopped"));
    assert_eq!(
        get(&g2, "/io").text(),
        want.lines().nth(1).unwrap().strip_prefix("io ").unwrap()
    );

    // master saves every probe it knows, lvs included.
    let dir3 = TempDir::new("gs-save3");
    let g3 = start("master", &dir3);
    assert_eq!(
        stdout(&g3.ctl(&["probe", "set", "lvs", "{\"state\":\"running\"}"], &[])),
        ok
    );
    let init3 = dir3.join("probes.init");
    std::fs::write(&init3, "# header\n").unwrap();
    assert!(g3.init_probes("--save", &init3).success());
    let saved3 = std::fs::read_to_string(&init3).unwrap();
    assert!(saved3.starts_with("lvs {\"cmd\":"), "{saved3}");
    assert_eq!(saved3.lines().count(), 1);
}

#[test]
fn the_2_0_0_snapshot_model_spells_stoped_ignores_unknown_sub_items_and_hides_state() {
    let dir = TempDir::new("gs-snap");
    let g = GopherStandin::start(
        "2.0.0",
        &dir.join("gopher"),
        GopherOptions {
            snapshot_200: true,
            ..Default::default()
        },
    );
    let r = put(
        &g,
        "/tcp",
        "{\"cmd\":{\"probe\":[\"tcp_rtt\",\"tcp_delay\"]}}",
    );
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 200 OK",
        &message("2.0.0", true, NEW_CONFIG),
    );
    let r = put(&g, "/tcp", "{\"state\":\"stopped\"}");
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 400 Bad Request",
        &message("2.0.0", false, "Bad request"),
    );
    let r = put(&g, "/tcp", "{\"state\":\"stoped\"}");
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 200 OK",
        &message("2.0.0", true, NEW_CONFIG),
    );
    let r = put(&g, "/io", "{\"state\":\"running\"}");
    assert_reply(
        "2.0.0",
        &r,
        "HTTP/1.1 200 OK",
        &message("2.0.0", true, NEW_CONFIG),
    );
    assert_eq!(
        get(&g, "/tcp").text(),
        "{\"cmd\":{\"bin\":\"/opt/gala-gopher/extend_probes/tcpprobe\",\"check_cmd\":\"\",\
         \"probe\":[\"tcp_rtt\"]},\"snoopers\":{\"proc_id\":[],\"proc_name\":[],\"pod_id\":[],\
         \"container_id\":[]}}"
    );
}

#[test]
fn libevent_answers_other_methods_with_its_own_501_page() {
    let dir = TempDir::new("gs-501");
    let g = start("2.0.2", &dir);
    let raw = b"POST /tcp HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
    let r = parse(&exchange(&g.rest_addr(), raw));
    assert_eq!(r.status_line, "HTTP/1.1 501 Not Implemented");
    assert_eq!(
        r.text(),
        "<HTML><HEAD>\n<TITLE>501 Not Implemented</TITLE>\n</HEAD><BODY>\n<H1>Not Implemented</H1>\n</BODY></HTML>\n"
    );
    // Keep-alive: two requests on one connection, the second closing it.
    let raw = b"GET /io HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let text = String::from_utf8(exchange(&g.rest_addr(), raw)).unwrap();
    assert_eq!(text.matches("HTTP/1.1 ").count(), 2, "{text}");
    assert!(text.ends_with("{ \"result\": \"failed\", \"message\":\"url not found\" }\n"));
}

#[test]
fn twenty_concurrent_changes_of_distinct_probes_are_all_answered_and_applied() {
    let dir = TempDir::new("gs-many");
    let g = start("2.0.2", &dir);
    let names: Vec<&str> = [
        "baseinfo",
        "virt",
        "flamegraph",
        "l7",
        "tcp",
        "socket",
        "io",
        "proc",
        "jvm",
        "postgre_sli",
        "opengauss_sli",
        "nginx",
        "lvs",
        "kafka",
        "tprofiling",
        "hw",
        "ksli",
        "container",
        "sermant",
        "sli",
    ]
    .to_vec();
    // Ten through gopher-ctl (one client at a time on a backlog of 5, as gala-gopher's command
    // server takes them), ten over REST, all at once.
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let g = &g;
                s.spawn(move || {
                    let doc = format!("{{\"params\":{{\"report_period\":{}}}}}", i + 1);
                    if i % 2 == 0 {
                        let o = g.ctl(&["probe", "set", name, &doc], &[]);
                        (o.status.code(), stdout(&o))
                    } else {
                        let r = put(g, &format!("/{name}"), &doc);
                        (Some(0), r.text())
                    }
                })
            })
            .collect();
        for h in handles {
            let (code, out) = h.join().unwrap();
            assert_eq!(code, Some(0));
            assert_eq!(
                out,
                "{ \"result\": \"success\", \"message\":\"New config takes effect\" }\n"
            );
        }
    });
    let state = g.live_state();
    for (i, name) in names.iter().enumerate() {
        assert_eq!(state[name]["params"]["report_period"], i + 1, "{name}");
    }
    assert_eq!(g.changes().len(), 20);
}
