//! Running an external program with a bound: its output is collected up to a cap, and once the
//! timeout has passed the program and everything it started are killed. systemctl and
//! gopher-ctl both go through here, so neither a hung systemd nor a hung gala-gopher can hold a
//! request forever.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a program that finished in time left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug)]
pub enum RunError {
    /// The program could not be started.
    Spawn(std::io::Error),
    /// It did not finish in time; it was killed.
    Timeout,
}

/// Runs `cmd` with stdin closed, collecting at most `cap` bytes of each of stdout and stderr.
/// The program runs in a process group of its own, so a shell script's children are killed
/// with it at the timeout.
pub fn run(cmd: &mut Command, timeout: Duration, cap: usize) -> Result<Finished, RunError> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(RunError::Spawn)?;
    wait_bounded(child, timeout, cap).ok_or(RunError::Timeout)
}

/// The pipes are drained by threads so a chatty child cannot block on a full pipe; what is
/// past `cap` is read and dropped.
fn wait_bounded(mut child: Child, timeout: Duration, cap: usize) -> Option<Finished> {
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    let pipes = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    for (which, pipe) in pipes.into_iter().enumerate() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.by_ref().take(cap as u64).read_to_end(&mut buf);
                let _ = std::io::copy(&mut p, &mut std::io::sink());
            }
            let _ = tx.send((which, buf));
        });
    }
    drop(tx);
    let mut out = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((which, buf)) => out[which] = buf,
            Err(_) => return kill(child),
        }
    }
    // Both pipes are closed: the child has exited or is about to.
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let [o, e] = out;
                return Some(Finished {
                    status,
                    stdout: String::from_utf8_lossy(&o).into_owned(),
                    stderr: String::from_utf8_lossy(&e).into_owned(),
                });
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            _ => return kill(child),
        }
    }
}

fn kill(mut child: Child) -> Option<Finished> {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: signals the process group the child leads (made by `process_group(0)`).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn output_and_status_are_collected() {
        let f = run(
            &mut sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(5),
            1024,
        )
        .unwrap();
        assert_eq!(f.stdout, "out\n");
        assert_eq!(f.stderr, "err\n");
        assert_eq!(f.status.code(), Some(3));
    }

    #[test]
    fn output_past_the_cap_is_dropped_without_blocking_the_child() {
        let f = run(
            &mut sh("head -c 300000 /dev/zero | tr '\\0' x"),
            Duration::from_secs(5),
            10,
        )
        .unwrap();
        assert_eq!(f.stdout, "xxxxxxxxxx");
        assert!(f.status.success());
    }

    #[test]
    fn a_hung_script_and_its_children_are_killed() {
        let dir = std::env::temp_dir().join(format!("aops-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("pid");
        let started = Instant::now();
        let r = run(
            &mut sh(&format!("sleep 30 & echo $! > {}; wait", pidfile.display())),
            Duration::from_millis(300),
            1024,
        );
        assert!(matches!(r, Err(RunError::Timeout)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Gone, or a zombie waiting for whoever inherited it.
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!alive, "the script's child {pid} was left running");
    }
}
