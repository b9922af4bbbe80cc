//! Test harness: runs the real `aops_agent` binary on a loopback port with a temporary
//! configuration and token file, and speaks raw HTTP/1.1 to it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_aops_agent");
pub const TOKEN: &str = "test-token-0123456789";

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// The program that runs binaries built for the target under test, from `AOPS_TEST_RUNNER`.
/// Unset (the native run) means none. The aarch64 run sets it to `qemu-aarch64-static`
/// (ci/test-aarch64.sh): cargo's runner starts the test binaries under emulation, but what they
/// start in turn (the agent, themselves) the kernel cannot execute without a binfmt_misc entry,
/// which CI machines need not have.
pub fn runner() -> Option<OsString> {
    std::env::var_os("AOPS_TEST_RUNNER").filter(|r| !r.is_empty())
}

/// The argument vector that runs `program` (a target binary): the runner first, if any. For
/// tools that take a command line to run (systemd-socket-activate, strace).
pub fn target_argv(program: impl AsRef<OsStr>) -> Vec<OsString> {
    runner()
        .into_iter()
        .chain(std::iter::once(program.as_ref().to_os_string()))
        .collect()
}

/// How much longer than natively a test waits for the agent's work: code under user-mode
/// emulation runs several times slower. (The fifty simultaneous changes of items_change queue
/// behind one file lock; under qemu on a busy machine the last one once waited over 30 s.)
pub fn slowdown() -> u32 {
    if runner().is_some() {
        4
    } else {
        1
    }
}

/// The name the kernel gives the agent's process (`Name:` in /proc/PID/status): the runner's,
/// cut to the kernel's 15 characters, when there is one.
pub fn agent_process_name() -> String {
    match runner() {
        Some(r) => {
            let base = Path::new(&r)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            base.chars().take(15).collect()
        }
        None => "aops_agent".to_string(),
    }
}

/// A `Command` for a target binary, through the runner if there is one.
pub fn target_command(program: impl AsRef<OsStr>) -> Command {
    let mut argv = target_argv(program).into_iter();
    let mut cmd = Command::new(argv.next().unwrap());
    cmd.args(argv);
    cmd
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("aops-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Options for one agent run; `Default` gives a registered agent with an empty config.
pub struct Options {
    /// Extra lines of agent.conf (the harness adds [agent] ip, port, token_file first).
    pub extra_conf: String,
    /// Extra lines in its `[agent]` section (`allow_from=...`).
    pub agent_conf: String,
    /// Whether to write the token file.
    pub registered: bool,
    pub env: Vec<(String, String)>,
    pub log_level: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            extra_conf: String::new(),
            agent_conf: String::new(),
            registered: true,
            env: Vec::new(),
            log_level: "DEBUG",
        }
    }
}

pub struct Agent {
    pub dir: TempDir,
    pub port: u16,
    pub child: Child,
    pub log: Arc<Mutex<String>>,
    pub token_file: PathBuf,
    pub conf: PathBuf,
}

impl Agent {
    pub fn start() -> Agent {
        Agent::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Agent {
        let dir = TempDir::new("agent");
        let port = free_port();
        let token_file = dir.join("agent_token.json");
        let conf = dir.join("agent.conf");
        if opts.registered {
            std::fs::write(&token_file, format!("{{\"access_token\": \"{TOKEN}\"}}")).unwrap();
        }
        let text = format!(
            "[agent]\nip=127.0.0.1\nport={port}\ntoken_file={}\n{}[log]\nlog_level={}\n{}",
            token_file.display(),
            opts.agent_conf,
            opts.log_level,
            opts.extra_conf
        );
        std::fs::write(&conf, text).unwrap();
        let mut cmd = target_command(BIN);
        cmd.arg("-c").arg(&conf).arg("start");
        cmd.env("AOPS_AGENT_LOG", "stderr")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS");
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = capture(child.stderr.take().unwrap());
        let mut agent = Agent {
            dir,
            port,
            child,
            log,
            token_file,
            conf,
        };
        agent.wait_listening(Duration::from_secs(10));
        agent
    }

    /// Waits until the port accepts connections; panics with the log if the agent exits.
    pub fn wait_listening(&mut self, timeout: Duration) {
        let timeout = timeout * slowdown();
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                panic!(
                    "agent exited ({status}) before listening; log:\n{}",
                    self.log_text()
                );
            }
            if TcpStream::connect(self.addr()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!(
            "agent did not listen within {timeout:?}; log:\n{}",
            self.log_text()
        );
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits until the agent's log holds `needle`; panics with the log after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        wait_for(&self.log, needle, timeout)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Response {
        request(&self.addr(), method, path, token, body)
    }

    /// A request with the valid token.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        self.request(method, path, Some(TOKEN), body)
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), "TERM");
        wait_timeout(&mut self.child, Duration::from_secs(15))
            .expect("agent did not stop after SIGTERM")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unsafe_kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig} {pid} failed");
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Collects a pipe into a shared string from a background thread.
pub fn capture(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut line = String::new();
        while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    log
}

pub fn wait_for(log: &Arc<Mutex<String>>, needle: &str, timeout: Duration) {
    let until = Instant::now() + timeout * slowdown();
    while Instant::now() < until {
        if log.lock().unwrap().contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "log never showed {needle:?}; log was:\n{}",
        log.lock().unwrap()
    );
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The envelope's `code`.
    pub fn code(&self) -> i64 {
        assert_eq!(self.status, 200, "HTTP status; body: {}", self.text());
        self.json()["code"].as_i64().expect("envelope code")
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Response {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        raw.push_str(&format!("access_token: {t}\r\n"));
    }
    if let Some(b) = body {
        raw.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        raw.push_str("\r\n");
    }
    raw_request(addr, raw.as_bytes())
}

/// Sends bytes as they are and parses the one response.
pub fn raw_request(addr: &str, bytes: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30) * slowdown()))
        .unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> Response {
    let text_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..text_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<HashMap<_, _>>();
    let mut body = buf[text_end + 4..].to_vec();
    if let Some(n) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    Response {
        status,
        headers,
        body,
    }
}

/// A TCP connection to `dst` from the loopback source address `src` (127.0.0.2, ...): std
/// cannot bind before connecting, so the socket is made by hand.
pub fn connect_from(
    src: std::net::Ipv4Addr,
    dst: std::net::SocketAddrV4,
) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    fn sockaddr(ip: std::net::Ipv4Addr, port: u16) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        }
    }
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor owned here; it is closed on every error path
    // by the TcpStream that takes it over at once.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let local = sockaddr(src, 0);
        if libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = sockaddr(*dst.ip(), dst.port());
        if libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// One request from source address `src`; the response, or `None` when the agent closed the
/// connection without sending a byte.
pub fn request_from(src: std::net::Ipv4Addr, port: u16, raw: &[u8]) -> Option<Response> {
    let dst = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port);
    let mut s = connect_from(src, dst).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // A refused connection may already be closed: the write can fail, the read must be empty.
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    (!buf.is_empty()).then(|| parse_response(&buf))
}

/// `GET` with the test token on a `Connection: close` request.
pub fn get_raw(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: agent\r\naccess_token: {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}
