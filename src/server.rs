//! The service: listener (from systemd, or bound from agent.conf), runtime, accept loop,
//! readiness and graceful stop.

use std::convert::Infallible;
use std::fmt;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;

use crate::api::Ctx;
use crate::config::Config;
use crate::http::admission::Admission;
use crate::http::router;
use crate::systemd::notify;

/// A client must send a request's headers within this time; hyper also applies it to a
/// keep-alive connection waiting for its next request, so idle connections are closed too.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 512;
/// How long requests under way may take to finish once a stop is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Threads for handlers (file reads, systemctl); the connections themselves need one thread.
const MAX_BLOCKING_THREADS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Systemd,
    Bound,
}

#[derive(Debug)]
pub enum StartError {
    Listen {
        addr: SocketAddr,
        reason: std::io::Error,
    },
    Socket(String),
    Runtime(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Listen { addr, reason }
                if reason.kind() == std::io::ErrorKind::AddrInUse =>
            {
                write!(
                    f,
                    "cannot listen on {addr}: the port is already in use by another process \
                 (see `ss -ltnp 'sport = :{}'`), or set another [agent] port in agent.conf",
                    addr.port()
                )
            }
            StartError::Listen { addr, reason } => write!(f, "cannot listen on {addr}: {reason}"),
            StartError::Socket(why) => write!(f, "cannot use the socket passed by systemd: {why}"),
            StartError::Runtime(e) => write!(f, "cannot start the runtime: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The socket systemd passed (socket activation), else one bound to `[agent] ip:port`.
/// Must run before the runtime starts: `listenfd` reads and clears `LISTEN_*`.
pub fn acquire(config: &Config) -> Result<(StdListener, Source), StartError> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() > 0 {
        match fds.take_tcp_listener(0) {
            Ok(Some(l)) => return Ok((l, Source::Systemd)),
            Ok(None) => {}
            Err(e) => return Err(StartError::Socket(e.to_string())),
        }
    }
    let addr = SocketAddr::new(config.ip, config.port);
    StdListener::bind(addr)
        .map(|l| (l, Source::Bound))
        .map_err(|reason| StartError::Listen { addr, reason })
}

/// What `STATUS=` and the journal say the agent serves.
pub fn describe(addr: SocketAddr, source: Source, config: &Config) -> String {
    match source {
        Source::Systemd => format!("serving on {addr} (socket from systemd)"),
        Source::Bound => format!("serving on {addr} (bound from {})", config.path.display()),
    }
}

/// When systemd's socket is not where agent.conf says, tell the operator how to apply it.
pub fn mismatch(addr: SocketAddr, source: Source, config: &Config) -> Option<String> {
    let wanted = SocketAddr::new(config.ip, config.port);
    let same_port = addr.port() == config.port;
    let same_ip =
        addr.ip() == config.ip || (addr.ip().is_unspecified() && config.ip.is_unspecified());
    if source != Source::Systemd || (same_port && same_ip) {
        return None;
    }
    Some(format!(
        "the socket from systemd listens on {addr} but {} asks for {wanted}; apply it with: \
         systemctl daemon-reload && systemctl restart aops-agent.socket aops-agent.service",
        config.path.display()
    ))
}

pub fn run(config: Config) -> Result<(), StartError> {
    let (std_listener, source) = acquire(&config)?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| StartError::Socket(e.to_string()))?;
    let addr = std_listener
        .local_addr()
        .map_err(|e| StartError::Socket(e.to_string()))?;
    let mut status = describe(addr, source, &config);
    crate::info!("aops-agent {} {}", env!("CARGO_PKG_VERSION"), status);
    if let Some(warn) = mismatch(addr, source, &config) {
        crate::warning!("{warn}");
        status = format!("{status}; {warn}");
    }

    let ctx = Arc::new(Ctx::new(config));
    if !ctx.tokens.is_registered() {
        crate::warning!(
            "this host is not registered: no usable token in {}; every request will be refused \
             (code 1201) until `aops_agent register` succeeds",
            ctx.tokens.path().display()
        );
    }
    // The journal says at start which gala-gopher generation probe control found (and again
    // whenever a later request finds another).
    ctx.gopher.found();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .map_err(StartError::Runtime)?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(std_listener).map_err(StartError::Runtime)?;
        serve(listener, ctx, status).await
    })
}

async fn serve(listener: TcpListener, ctx: Arc<Ctx>, status: String) -> Result<(), StartError> {
    // Install the handlers before READY=1, so a stop right after start is graceful too.
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(StartError::Runtime)?;
    let stop = async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    };
    tokio::pin!(stop);

    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let admission = Admission::new(ctx.config.allow_from.clone(), &ctx.config.path);
    crate::info!("{}", admission.describe());
    notify::ready(&status);

    let signal_name = loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break "closed",
            },
            s = &mut stop => break s,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: keep serving the connections we have and retry.
                    crate::error!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            s = &mut stop => break s,
        };
        // Refused: dropping the stream closes it before any of it is read.
        let Some(slot) = admission.admit(peer) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn_ctx = Arc::clone(&ctx);
        let service = service_fn(move |req| {
            let ctx = Arc::clone(&conn_ctx);
            async move { Ok::<_, Infallible>(router::handle(ctx, peer, req).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .keep_alive(true)
            // Memory per connection: hyper starts both buffers at 8 KiB, and by default lets the
            // read buffer grow to ~400 KiB, for a request head or while a body streams in;
            // 256 connections could then hold 100 MB. A head larger than this gets 431.
            .max_buf_size(crate::http::MAX_CONNECTION_BUFFER)
            // Responses are queued as they are, never copied into the connection's buffer.
            .writev(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                crate::debug!("connection from {peer} ended: {e}");
            }
            drop(slot);
            drop(permit);
        });
    };

    crate::info!(
        "{signal_name} received: stopping (requests under way get {}s)",
        SHUTDOWN_GRACE.as_secs()
    );
    notify::stopping();
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => crate::info!("stopped"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            crate::warning!("stopped with requests still under way after {}s", SHUTDOWN_GRACE.as_secs())
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn mismatch_only_for_systemd_sockets_elsewhere() {
        let mut c = Config::defaults(Path::new("/etc/aops/agent.conf"));
        c.ip = "0.0.0.0".parse().unwrap();
        let here: SocketAddr = "0.0.0.0:12000".parse().unwrap();
        assert_eq!(mismatch(here, Source::Systemd, &c), None);
        assert_eq!(mismatch(here, Source::Bound, &c), None);
        c.port = 12001;
        let m = mismatch(here, Source::Systemd, &c).unwrap();
        assert!(m.contains("asks for 0.0.0.0:12001"), "{m}");
        assert!(m.contains("systemctl daemon-reload"), "{m}");
    }

    #[test]
    fn status_names_the_source() {
        let c = Config::defaults(Path::new("/etc/aops/agent.conf"));
        let a: SocketAddr = "0.0.0.0:12000".parse().unwrap();
        assert_eq!(
            describe(a, Source::Systemd, &c),
            "serving on 0.0.0.0:12000 (socket from systemd)"
        );
        assert_eq!(
            describe(a, Source::Bound, &c),
            "serving on 0.0.0.0:12000 (bound from /etc/aops/agent.conf)"
        );
    }
}
