//! A stand-in gala-gopher 2.x for integration tests: runs `tests/support/gala_gopher_standin.py`
//! as a daemon of one release (2.0.0, 2.0.1, 2.0.2 or master) with REST on a free loopback port
//! and its command socket inside the test's directory, and reads back what it received
//! (`requests.jsonl`) and its live probe state (`probes.json`). The `gopher-ctl` stand-in next to
//! it talks to that socket; `ctl_env()` is the environment that points the agent at both.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const FLAVOURS: [&str; 4] = ["2.0.0", "2.0.1", "2.0.2", "master"];

/// The directory holding the stand-ins.
pub fn support_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

/// `gala_gopher_standin.py`.
pub fn script() -> PathBuf {
    support_dir().join("gala_gopher_standin.py")
}

/// The `gopher-ctl` stand-in (a shell wrapper around the script's `ctl`).
pub fn ctl_program() -> PathBuf {
    support_dir().join("gopher-ctl")
}

/// `python3 -S`: the stand-in needs only the standard library, and skipping `site` is most
/// of a quick start.
pub fn python() -> Command {
    // The distribution's interpreter when there is one: a version manager's shim costs far
    // more than the stand-in itself.
    let py = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut cmd = Command::new(py);
    cmd.arg("-S");
    cmd
}

/// Whether a release has gopher-ctl and its command socket (2.0.2 and later).
pub fn has_ctl(flavour: &str) -> bool {
    matches!(flavour, "2.0.2" | "master")
}

#[derive(Clone, Debug, Default)]
pub struct GopherOptions {
    /// No REST server (2.0.2/master without `rest_api_on = true`).
    pub no_rest: bool,
    /// A fixed REST port; `None` binds a free one.
    pub rest_port: Option<u16>,
    /// The command socket; `None` puts it at `DIR/gala_gopher_cmd.sock` (2.0.2/master only).
    pub cmd_socket: Option<PathBuf>,
    /// A gala-gopher-custom.json whose top-level keys are extra probes (master only).
    pub custom: Option<PathBuf>,
    /// More names the build answers for.
    pub names_extra: Vec<String>,
    /// 2.0.0 as the 2.0.0-era probe_mng.c has it (`--snapshot-200`, see the script).
    pub snapshot_200: bool,
}

/// One request the stand-in received, REST or command socket.
#[derive(Clone, Debug)]
pub struct GopherRequest {
    /// `rest` or `ctl`.
    pub channel: String,
    /// REST: the HTTP method; ctl: `get`, `set` or `metric`.
    pub method: String,
    /// The probe name (REST: the path without its leading `/`).
    pub probe: String,
    /// The body exactly as received (REST), or the JSON argument of `gopher-ctl probe set`.
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    /// REST only: the status answered (`None` when the connection was closed without a reply).
    pub status: Option<u16>,
    /// What was answered (lossy UTF-8).
    pub reply: String,
}

impl GopherRequest {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct GopherStandin {
    pub flavour: String,
    pub dir: PathBuf,
    child: Option<Child>,
    rest_port: Option<u16>,
    socket: Option<PathBuf>,
    log: Arc<Mutex<String>>,
}

impl GopherStandin {
    /// Starts the daemon with its state in `dir` and waits until it listens.
    pub fn start(flavour: &str, dir: &Path, opts: GopherOptions) -> GopherStandin {
        std::fs::create_dir_all(dir).unwrap();
        let _ = std::fs::remove_file(dir.join("ready"));
        let mut cmd = python();
        cmd.arg(script())
            .arg("daemon")
            .arg("--flavour")
            .arg(flavour)
            .arg("--state")
            .arg(dir);
        if opts.no_rest {
            cmd.arg("--no-rest");
        } else {
            cmd.arg("--rest-port")
                .arg(opts.rest_port.unwrap_or(0).to_string());
        }
        let socket = has_ctl(flavour).then(|| {
            opts.cmd_socket
                .clone()
                .unwrap_or_else(|| dir.join("gala_gopher_cmd.sock"))
        });
        if let Some(s) = &socket {
            cmd.arg("--cmd-socket").arg(s);
        }
        if let Some(c) = &opts.custom {
            cmd.arg("--custom").arg(c);
        }
        if !opts.names_extra.is_empty() {
            cmd.arg("--names-extra").args(&opts.names_extra);
        }
        if opts.snapshot_200 {
            cmd.arg("--snapshot-200");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs the gala-gopher stand-in");
        let log = Arc::new(Mutex::new(String::new()));
        capture(child.stdout.take().unwrap(), &log);
        capture(child.stderr.take().unwrap(), &log);
        let mut me = GopherStandin {
            flavour: flavour.to_string(),
            dir: dir.to_path_buf(),
            child: Some(child),
            rest_port: None,
            socket,
            log,
        };
        let ready = me.wait_ready(Duration::from_secs(15));
        me.rest_port = ready.trim().parse().ok();
        me
    }

    fn wait_ready(&mut self, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        let path = self.dir.join("ready");
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if text.ends_with('\n') {
                    return text;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                panic!(
                    "gala-gopher stand-in exited ({status}) before it was ready:\n{}",
                    self.log_text()
                );
            }
            if Instant::now() > until {
                panic!(
                    "gala-gopher stand-in not ready within {timeout:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the daemon printed on stdout and stderr.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// The REST port actually bound; panics when REST is off.
    pub fn rest_port(&self) -> u16 {
        self.rest_port.expect("the stand-in runs without REST")
    }

    pub fn rest_port_opt(&self) -> Option<u16> {
        self.rest_port
    }

    pub fn rest_addr(&self) -> String {
        format!("127.0.0.1:{}", self.rest_port())
    }

    /// The command socket; panics for 2.0.0/2.0.1, which have none.
    pub fn socket(&self) -> &Path {
        self.socket
            .as_deref()
            .expect("this release has no gopher-ctl")
    }

    /// Where the ctl stand-in logs each of its invocations (one JSON line each).
    pub fn ctl_log_path(&self) -> PathBuf {
        self.dir.join("ctl.log")
    }

    /// The environment that makes the agent (or any child) use this stand-in's gopher-ctl:
    /// `AOPS_AGENT_GOPHER_CTL`, `GOPHER_STANDIN_SOCKET`, `GOPHER_STANDIN_CTL_LOG`.
    pub fn ctl_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "AOPS_AGENT_GOPHER_CTL".to_string(),
                ctl_program().display().to_string(),
            ),
            (
                "GOPHER_STANDIN_CTL_LOG".to_string(),
                self.ctl_log_path().display().to_string(),
            ),
        ];
        if let Some(s) = &self.socket {
            env.push(("GOPHER_STANDIN_SOCKET".to_string(), s.display().to_string()));
        }
        env
    }

    /// The argument lists of every ctl invocation logged so far.
    pub fn ctl_invocations(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.ctl_log_path()).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("ctl log line");
                v["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    }

    /// Runs the ctl stand-in with this stand-in's environment (plus `extra_env`).
    pub fn ctl(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(ctl_program());
        cmd.args(args);
        for (k, v) in self.ctl_env() {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .output()
            .expect("gopher-ctl stand-in runs")
    }

    /// Runs `init-probes --replay|--save` against this stand-in's command socket (2.0.2,
    /// master) or, for 2.0.0/2.0.1, replays over REST as their init_probes.sh did.
    pub fn init_probes(&self, mode: &str, probes_init: &Path) -> ExitStatus {
        let mut cmd = python();
        cmd.arg(script())
            .arg("init-probes")
            .arg(mode)
            .arg("--probes-init")
            .arg(probes_init)
            .arg("--flavour")
            .arg(&self.flavour);
        match &self.socket {
            Some(s) => cmd.arg("--socket").arg(s),
            None => cmd.arg("--rest").arg(self.rest_addr()),
        };
        cmd.status().expect("init-probes runs")
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<GopherRequest> {
        let text = std::fs::read_to_string(self.dir.join("requests.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("requests.jsonl line");
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                GopherRequest {
                    channel: s("channel"),
                    method: s("method"),
                    probe: s("probe"),
                    body: from_hex(v["body_hex"].as_str().unwrap_or_default()),
                    content_type: v["content_type"].as_str().map(str::to_string),
                    status: v["status"].as_u64().map(|n| n as u16),
                    reply: s("reply"),
                }
            })
            .collect()
    }

    /// The requests that were changes (REST PUT, ctl set).
    pub fn changes(&self) -> Vec<GopherRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "PUT" || r.method == "set")
            .collect()
    }

    pub fn clear_requests(&self) {
        let _ = std::fs::remove_file(self.dir.join("requests.jsonl"));
    }

    /// `probes.json`'s `probes`: per name, `configured`, `state` (null while never configured),
    /// `probe` (sub-items), `snoopers`, `blacklist`, `params` and `json` (what GET answers).
    pub fn live_state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.join("probes.json")).expect("probes.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("probes.json is JSON");
        v["probes"].clone()
    }

    /// The live `state` of one probe (`None` while it was never configured).
    pub fn probe_state(&self, name: &str) -> Option<String> {
        self.live_state()[name]["state"]
            .as_str()
            .map(str::to_string)
    }

    /// SIGTERM, then waits for the exit (killing it after 10 s).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > until {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GopherStandin {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn capture(pipe: impl Read + Send + 'static, log: &Arc<Mutex<String>>) {
    let sink = Arc::clone(log);
    std::thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut line = String::new();
        while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}
