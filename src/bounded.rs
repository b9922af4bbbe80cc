//! Running another program under a time bound: its output, or a kill once the time is up.
//! The adapters for journalctl and firewall-cmd use it, as systemctl.rs does for systemctl.

use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub use crate::process::Finished;
use crate::process::{self, RunError as Bound};

/// What a status tool prints is a few kilobytes; far more is not an answer.
const MAX_OUTPUT: usize = 1 << 20;

impl Finished {
    /// stderr, or the exit status when the program said nothing.
    pub fn reason(&self) -> String {
        let e = self.stderr.trim();
        if e.is_empty() {
            self.status.to_string()
        } else {
            e.to_string()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    Spawn {
        program: String,
        reason: String,
    },
    Timeout {
        command: String,
        after: Duration,
    },
    /// It exited unsuccessfully; `reason` is its stderr (or the exit status).
    Failed {
        command: String,
        reason: String,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Spawn { program, reason } => write!(f, "cannot run {program}: {reason}"),
            RunError::Timeout { command, after } => write!(
                f,
                "`{command}` did not finish within {after:?} and was killed"
            ),
            RunError::Failed { command, reason } => write!(f, "`{command}` failed: {reason}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Runs `program args...` with no stdin and no pager; kills it after `timeout`.
pub fn run(program: &Path, args: &[&str], timeout: Duration) -> Result<Finished, RunError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0")
        .env("LC_ALL", "C");
    process::run(&mut cmd, timeout, MAX_OUTPUT).map_err(|e| match e {
        Bound::Spawn(e) => RunError::Spawn {
            program: program.display().to_string(),
            reason: e.to_string(),
        },
        Bound::Timeout => RunError::Timeout {
            command: format!("{} {}", program.display(), args.join(" ")),
            after: timeout,
        },
    })
}

/// Like [`run`], but an unsuccessful exit is an error; gives stdout.
pub fn output(program: &Path, args: &[&str], timeout: Duration) -> Result<String, RunError> {
    let f = run(program, args, timeout)?;
    if f.status.success() {
        return Ok(f.stdout);
    }
    Err(RunError::Failed {
        command: format!("{} {}", program.display(), args.join(" ")),
        reason: f.reason(),
    })
}

/// The program named by the environment variable `var`, else `default` (found on `PATH`).
pub fn program_from_env(var: &str, default: &str) -> std::path::PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => p.into(),
        _ => default.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::fake::Scratch;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let p = dir.join("prog");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn output_and_status_of_a_quick_program() {
        let d = Scratch::new("bounded-ok");
        let p = script(&d, "echo out; echo err >&2; exit 3");
        let f = run(&p, &[], Duration::from_secs(5)).unwrap();
        assert_eq!(f.stdout, "out\n");
        assert_eq!(f.reason(), "err");
        assert_eq!(f.status.code(), Some(3));
        let e = output(&p, &["a"], Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.to_string(), format!("`{} a` failed: err", p.display()));
    }

    #[test]
    fn a_hung_program_is_killed() {
        let d = Scratch::new("bounded-hang");
        let p = script(&d, "exec sleep 30");
        let t = Instant::now();
        let e = run(&p, &["x"], Duration::from_millis(300)).unwrap_err();
        assert!(matches!(e, RunError::Timeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(e.to_string().contains("prog x` did not finish"), "{e}");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let e = run(Path::new("/nonexistent/prog"), &[], Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, RunError::Spawn { .. }), "{e}");
    }
}
