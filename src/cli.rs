//! Command line: what the operator typed, turned into a [`Command`].

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::config;
use crate::register::RegisterSource;

pub const USAGE: &str = "\
Usage: aops_agent [-c PATH] start
       aops_agent [-c PATH] register (-f FILE | -d JSON)
       aops_agent [-c PATH] check [--json]
       aops_agent -H | --Help
       aops_agent -h | --help
       aops_agent -V | --version";

pub const HELP: &str = "\
aops_agent - the A-Ops agent of this host

Usage: aops_agent [-c PATH] start
       aops_agent [-c PATH] register (-f FILE | -d JSON)
       aops_agent [-c PATH] check [--json]

Commands:
  start              serve the agent API (systemd starts this through aops-agent.socket)
  register           enroll this host with aops-manager and save the token it returns
  check              check this host's setup, read-only: one line per check (ok, warn or
                     FAIL) with the fix; exit status 1 when any check fails

Options:
  -c, --config PATH  agent configuration (default /etc/aops/agent.conf)
  -f FILE            register: read the registration object from FILE
  -d JSON            register: the registration object given inline
      --json         check: print the report as one JSON object
  -H, --Help         describe the registration object, with an example
  -h, --help         this text
  -V, --version      the agent's version

Logs go to the journal: journalctl -u aops-agent. Manual: man aops_agent, man agent.conf";

pub const REGISTER_HELP: &str = r#"Registration object for `aops_agent register -f FILE` or `-d JSON`:

  key               type              required  meaning
  web_username      string            yes       user name on the aops-manager web UI
  web_password      string            no        that user's password; when left out it is
                                                read from standard input (not echoed)
  host_name         string            yes       name under which this host is listed
                                                (at most 20 characters)
  host_group_name   string            yes       existing host group to add it to
                                                (at most 20 characters)
  manager_ip        string            yes       address of aops-manager (reached over IPv4)
  manager_port      string or number  yes       port of aops-manager (1-65535)
  management        boolean           yes       true: management host; false: monitored host
  agent_port        string or number  no        port this agent serves on (1-65535); also
                                                written to [agent] port in agent.conf

Example:
  {"web_username": "admin", "web_password": "changeme", "host_name": "host1",
   "host_group_name": "group1", "manager_ip": "192.168.1.23", "management": false,
   "manager_port": "11111", "agent_port": "12000"}

On success it prints "Agent Register Success" and saves the token to the token file
(/etc/aops/agent_token.json unless agent.conf sets [agent] token_file). When agent.conf has
no [agent] allow_from, it adds allow_from=<manager_ip>: only the manager and this host may
call the agent from then on. A register file holding web_password should be mode 0600."#;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start {
        config: PathBuf,
    },
    Register {
        config: PathBuf,
        source: RegisterSource,
    },
    Check {
        config: PathBuf,
        json: bool,
    },
    RegisterHelp,
    Help,
    Version,
}

/// A command line that cannot be understood. Printed as one line, then the usage; exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage_err(e: pico_args::Error) -> UsageError {
    UsageError(match e {
        pico_args::Error::OptionWithoutAValue(o) => format!("option {o} needs a value"),
        pico_args::Error::NonUtf8Argument => "arguments must be valid UTF-8".to_string(),
        other => other.to_string(),
    })
}

pub fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    if args.contains(["-H", "--Help"]) {
        return Ok(Command::RegisterHelp);
    }
    let config: PathBuf = args
        .opt_value_from_os_str(["-c", "--config"], |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(usage_err)?
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let file: Option<PathBuf> = args
        .opt_value_from_os_str("-f", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(usage_err)?;
    let data: Option<String> = args.opt_value_from_str("-d").map_err(usage_err)?;
    let json = args.contains("--json");
    let sub = args.subcommand().map_err(usage_err)?;
    let rest = args.finish();
    if let Some(extra) = rest.first() {
        let extra = extra.to_string_lossy();
        return Err(UsageError(if extra.starts_with('-') {
            format!("unknown option '{extra}'")
        } else {
            format!("unexpected argument '{extra}'")
        }));
    }
    if json && sub.as_deref() != Some("check") {
        return Err(UsageError("--json belongs to 'check'".into()));
    }
    match sub.as_deref() {
        Some("check") => {
            if file.is_some() || data.is_some() {
                return Err(UsageError(
                    "-f and -d belong to 'register', not 'check'".into(),
                ));
            }
            Ok(Command::Check { config, json })
        }
        Some("start") => {
            if file.is_some() || data.is_some() {
                return Err(UsageError(
                    "-f and -d belong to 'register', not 'start'".into(),
                ));
            }
            Ok(Command::Start { config })
        }
        Some("register") => {
            let source = match (file, data) {
                (Some(f), None) => RegisterSource::File(f),
                (None, Some(d)) => RegisterSource::Inline(d),
                (Some(_), Some(_)) => {
                    return Err(UsageError(
                        "register takes either -f FILE or -d JSON, not both".into(),
                    ))
                }
                (None, None) => return Err(UsageError("register needs -f FILE or -d JSON".into())),
            };
            Ok(Command::Register { config, source })
        }
        Some(other) => Err(UsageError(format!("unknown command '{other}'"))),
        None => Err(UsageError("no command given".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn config_before_or_after_the_command() {
        let want = Command::Start {
            config: "/tmp/a.conf".into(),
        };
        assert_eq!(p(&["-c", "/tmp/a.conf", "start"]), Ok(want.clone()));
        assert_eq!(p(&["start", "--config", "/tmp/a.conf"]), Ok(want));
        assert_eq!(
            p(&["start"]),
            Ok(Command::Start {
                config: config::DEFAULT_PATH.into()
            })
        );
    }

    #[test]
    fn register_sources() {
        assert_eq!(
            p(&["register", "-f", "r.json"]),
            Ok(Command::Register {
                config: config::DEFAULT_PATH.into(),
                source: RegisterSource::File("r.json".into())
            })
        );
        assert_eq!(
            p(&["-c", "/a", "register", "-d", "{}"]),
            Ok(Command::Register {
                config: "/a".into(),
                source: RegisterSource::Inline("{}".into())
            })
        );
        assert!(p(&["register"]).is_err());
        assert!(p(&["register", "-f", "a", "-d", "{}"]).is_err());
    }

    #[test]
    fn check_with_and_without_json() {
        assert_eq!(
            p(&["check"]),
            Ok(Command::Check {
                config: config::DEFAULT_PATH.into(),
                json: false
            })
        );
        assert_eq!(
            p(&["--json", "-c", "/a", "check"]),
            Ok(Command::Check {
                config: "/a".into(),
                json: true
            })
        );
        assert!(p(&["start", "--json"]).is_err());
        assert!(p(&["check", "-f", "x"]).is_err());
    }

    #[test]
    fn help_and_version_flags() {
        assert_eq!(p(&["-H"]), Ok(Command::RegisterHelp));
        assert_eq!(p(&["--Help"]), Ok(Command::RegisterHelp));
        assert_eq!(p(&["-h"]), Ok(Command::Help));
        assert_eq!(p(&["--version"]), Ok(Command::Version));
    }

    #[test]
    fn unknown_things_are_usage_errors() {
        assert_eq!(
            p(&["frobnicate"]),
            Err(UsageError("unknown command 'frobnicate'".into()))
        );
        assert_eq!(
            p(&["start", "--bogus"]),
            Err(UsageError("unknown option '--bogus'".into()))
        );
        assert_eq!(
            p(&["start", "extra"]),
            Err(UsageError("unexpected argument 'extra'".into()))
        );
        assert!(p(&[]).is_err());
        assert!(p(&["start", "-c"]).is_err());
    }
}
