//! The real [`Systemd`]: runs `systemctl`, each call bounded by a timeout after which the
//! process is killed, so a hung systemd (or D-Bus) cannot hold a request forever.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::show::{self, UnitProps};
use super::Systemd;
use crate::process::{self, RunError};

/// Where the `systemctl` program is taken from; integration tests point it at a stand-in.
pub const PROGRAM_ENV: &str = "AOPS_AGENT_SYSTEMCTL";
/// Queries answer in milliseconds; more than this means systemd is stuck.
pub const SHOW_TIMEOUT: Duration = Duration::from_secs(5);
/// Start and stop wait for the job to finish; units may take a while, but not forever.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// `show` of a few units is a few kilobytes; far more is not an answer to what was asked.
const MAX_OUTPUT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemdError {
    /// The program could not be run at all.
    Spawn { program: String, reason: String },
    /// It did not finish in time and was killed.
    Timeout { command: String, after: Duration },
    /// It exited unsuccessfully; `reason` is what it wrote on stderr.
    Failed { command: String, reason: String },
    /// Its output does not match the units asked for.
    Output { command: String, reason: String },
}

impl fmt::Display for SystemdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystemdError::Spawn { program, reason } => write!(f, "cannot run {program}: {reason}"),
            SystemdError::Timeout { command, after } => {
                write!(
                    f,
                    "`{command}` did not finish within {after:?} and was killed"
                )
            }
            SystemdError::Failed { command, reason } => write!(f, "`{command}` failed: {reason}"),
            SystemdError::Output { command, reason } => {
                write!(f, "unexpected output from `{command}`: {reason}")
            }
        }
    }
}

impl std::error::Error for SystemdError {}

pub struct Systemctl {
    program: PathBuf,
    show_timeout: Duration,
    job_timeout: Duration,
}

impl Systemctl {
    pub fn new(program: PathBuf, show_timeout: Duration, job_timeout: Duration) -> Systemctl {
        Systemctl {
            program,
            show_timeout,
            job_timeout,
        }
    }

    /// `systemctl` from `PATH`, or the program named by `AOPS_AGENT_SYSTEMCTL`.
    pub fn from_env() -> Systemctl {
        let program = match std::env::var_os(PROGRAM_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from("systemctl"),
        };
        Systemctl::new(program, SHOW_TIMEOUT, JOB_TIMEOUT)
    }

    /// The same program with another bound on queries (`aops_agent check` answers in seconds).
    pub fn with_query_timeout(self, timeout: Duration) -> Systemctl {
        Systemctl {
            show_timeout: timeout,
            ..self
        }
    }

    fn run(&self, args: &[&str], timeout: Duration) -> Result<String, SystemdError> {
        let command = format!("{} {}", self.program.display(), args.join(" "));
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            // Keep systemctl from paging or asking on a terminal it does not have.
            .env("SYSTEMD_PAGER", "")
            .env("SYSTEMD_COLORS", "0");
        let done = process::run(&mut cmd, timeout, MAX_OUTPUT).map_err(|e| match e {
            RunError::Spawn(e) => SystemdError::Spawn {
                program: self.program.display().to_string(),
                reason: e.to_string(),
            },
            RunError::Timeout => SystemdError::Timeout {
                command: command.clone(),
                after: timeout,
            },
        })?;
        if done.status.success() {
            return Ok(done.stdout);
        }
        let mut reason = done.stderr.trim().to_string();
        if reason.is_empty() {
            reason = done.status.to_string();
        }
        Err(SystemdError::Failed { command, reason })
    }

    fn job(&self, verb: &str, unit: &str) -> Result<(), SystemdError> {
        self.run(&["--no-ask-password", verb, unit], self.job_timeout)
            .map(|_| ())
    }
}

/// `UNIT LOAD ACTIVE SUB DESCRIPTION` lines; a failed unit may carry a leading marker (`●`).
fn parse_list_units(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip_while(|w| !w.contains('.'));
            let unit = words.next()?;
            let _load = words.next()?;
            let active = words.next()?;
            Some((unit.to_string(), active.to_string()))
        })
        .collect()
}

impl Systemd for Systemctl {
    fn show(&self, units: &[&str], props: &[&str]) -> Result<Vec<UnitProps>, SystemdError> {
        let plist = props.join(",");
        let mut args = vec!["show", "-p", plist.as_str(), "--"];
        args.extend_from_slice(units);
        let text = self.run(&args, self.show_timeout)?;
        let blocks = show::parse(&text);
        if blocks.len() != units.len() {
            return Err(SystemdError::Output {
                command: format!("{} {}", self.program.display(), args.join(" ")),
                reason: format!(
                    "{} unit blocks for {} units asked",
                    blocks.len(),
                    units.len()
                ),
            });
        }
        Ok(blocks)
    }

    fn loaded_states(&self, units: &[&str]) -> Result<Vec<(String, String)>, SystemdError> {
        let mut args = vec![
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
            "--full",
            "--",
        ];
        args.extend_from_slice(units);
        let text = self.run(&args, self.show_timeout)?;
        Ok(parse_list_units(&text))
    }

    fn start(&self, unit: &str) -> Result<(), SystemdError> {
        self.job("start", unit)
    }

    fn stop(&self, unit: &str) -> Result<(), SystemdError> {
        self.job("stop", unit)
    }

    fn try_restart(&self, unit: &str) -> Result<(), SystemdError> {
        self.job("try-restart", unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::fake::Scratch;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::time::Instant;

    /// A program in `dir` that runs `body` as a shell script, standing in for systemctl.
    fn program(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("systemctl");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn systemctl(p: &Path) -> Systemctl {
        Systemctl::new(
            p.to_path_buf(),
            Duration::from_millis(500),
            Duration::from_millis(500),
        )
    }

    #[test]
    fn show_parses_real_output_and_passes_units_after_the_options() {
        let captured = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/systemd/show-hybrid.txt"
        );
        let dir = Scratch::new("systemctl-show");
        let args = dir.join("args");
        let p = program(
            &dir,
            &format!("echo \"$@\" > {}\ncat {captured}", args.display()),
        );
        let units = [
            "gala-gopher.service",
            "ssh.service",
            "cron.service",
            "nosuch.service",
        ];
        let blocks = systemctl(&p).show(&units, &["Id", "LoadState"]).unwrap();
        assert_eq!(blocks.len(), 4);
        assert!(blocks[3].not_found());
        assert_eq!(
            std::fs::read_to_string(&args).unwrap().trim(),
            "show -p Id,LoadState -- gala-gopher.service ssh.service cron.service nosuch.service"
        );
    }

    #[test]
    fn list_units_lines_give_unit_and_active_state() {
        // As systemd 252 prints `list-units --all --plain --no-legend` (one unit failed).
        let text = "dbus.service             loaded active   running D-Bus System Message Bus\n\
                    \u{25cf} nginx.service    loaded failed   failed  A high performance web server\n\
                    mysql.service            not-found inactive dead  mysql.service\n";
        assert_eq!(
            parse_list_units(text),
            [
                ("dbus.service".to_string(), "active".to_string()),
                ("nginx.service".to_string(), "failed".to_string()),
                ("mysql.service".to_string(), "inactive".to_string()),
            ]
        );
        assert!(parse_list_units("").is_empty());
    }

    #[test]
    fn show_with_too_few_blocks_is_an_error() {
        let dir = Scratch::new("systemctl-short");
        let p = program(&dir, "echo Id=a.service");
        let e = systemctl(&p)
            .show(&["a.service", "b.service"], &["Id"])
            .unwrap_err();
        assert!(matches!(e, SystemdError::Output { .. }), "{e}");
    }

    #[test]
    fn a_failing_job_reports_stderr() {
        let dir = Scratch::new("systemctl-fail");
        let p = program(
            &dir,
            "echo 'Job for gala-gopher.service failed because the control process exited with error code.' >&2\nexit 1",
        );
        let e = systemctl(&p).start("gala-gopher.service").unwrap_err();
        match &e {
            SystemdError::Failed { command, reason } => {
                assert!(
                    command.ends_with("--no-ask-password start gala-gopher.service"),
                    "{command}"
                );
                assert!(
                    reason.starts_with("Job for gala-gopher.service failed"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        let p = program(&dir, "exit 3");
        let e = systemctl(&p).stop("x.service").unwrap_err();
        assert!(e.to_string().contains("exit status: 3"), "{e}");
    }

    #[test]
    fn a_hung_systemctl_is_killed_at_the_timeout() {
        let dir = Scratch::new("systemctl-hang");
        let pidfile = dir.join("pid");
        let p = program(
            &dir,
            &format!("echo $$ > {}\nexec sleep 30", pidfile.display()),
        );
        let started = Instant::now();
        let e = systemctl(&p).try_restart("x.service").unwrap_err();
        assert!(matches!(e, SystemdError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "the hung process {pid} was left running");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let s = systemctl(Path::new("/nonexistent/systemctl"));
        let e = s.show(&["a.service"], &["Id"]).unwrap_err();
        assert!(matches!(e, SystemdError::Spawn { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/systemctl"));
    }
}
