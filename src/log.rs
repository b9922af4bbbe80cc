//! Journal logging through the syslog socket, with stderr as the fallback.
//!
//! The agent's levels are the ones operators already write in agent.conf (Python's names), so
//! this is a small logger of its own rather than the `log` facade, which has no CRITICAL.

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use syslog::{Facility, Formatter3164, LoggerBackend};

pub const IDENTIFIER: &str = "aops-agent";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warning = 2,
    Error = 3,
    Critical = 4,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    fn from_u8(v: u8) -> Level {
        match v {
            0 => Level::Debug,
            1 => Level::Info,
            2 => Level::Warning,
            3 => Level::Error,
            _ => Level::Critical,
        }
    }
}

impl FromStr for Level {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_uppercase().as_str() {
            "DEBUG" => Ok(Level::Debug),
            "INFO" => Ok(Level::Info),
            "WARNING" | "WARN" => Ok(Level::Warning),
            "ERROR" => Ok(Level::Error),
            "CRITICAL" | "FATAL" => Ok(Level::Critical),
            _ => Err(()),
        }
    }
}

/// Where log lines go. `Auto` prefers the syslog socket (the journal) and falls back to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Auto,
    Stderr,
}

type Syslog = syslog::Logger<LoggerBackend, Formatter3164>;

enum Sink {
    Syslog(Syslog),
    Stderr,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static TARGET: Mutex<Target> = Mutex::new(Target::Auto);

fn connect() -> Option<Syslog> {
    let formatter = Formatter3164 {
        facility: Facility::LOG_DAEMON,
        hostname: None,
        process: IDENTIFIER.into(),
        pid: std::process::id(),
    };
    syslog::unix(formatter).ok()
}

/// Chooses the sink and level. Safe to call again (the level is re-read from agent.conf).
pub fn init(level: Level, target: Target) {
    set_level(level);
    *TARGET.lock().unwrap_or_else(|e| e.into_inner()) = target;
    let sink = match target {
        Target::Auto => connect().map(Sink::Syslog).unwrap_or(Sink::Stderr),
        Target::Stderr => Sink::Stderr,
    };
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(sink);
}

/// `AOPS_AGENT_LOG=stderr` forces stderr; used by tests and when running in a terminal.
pub fn target_from_env() -> Target {
    match std::env::var("AOPS_AGENT_LOG") {
        Ok(v) if v.eq_ignore_ascii_case("stderr") => Target::Stderr,
        _ => Target::Auto,
    }
}

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

pub fn enabled(level: Level) -> bool {
    level >= self::level()
}

fn to_syslog(logger: &mut Syslog, level: Level, msg: &str) -> syslog::Result<()> {
    match level {
        Level::Debug => logger.debug(msg),
        Level::Info => logger.info(msg),
        Level::Warning => logger.warning(msg),
        Level::Error => logger.err(msg),
        Level::Critical => logger.crit(msg),
    }
}

fn to_stderr(level: Level, msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}: {}", level.name(), msg);
}

pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let msg = args.to_string();
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    match sink.as_mut() {
        Some(Sink::Syslog(logger)) => {
            if to_syslog(logger, level, &msg).is_ok() {
                return;
            }
            // journald restarted or the socket went away: the syslog crate never reconnects by
            // itself, so try once, and keep the line on stderr (also the journal under systemd)
            // rather than lose it.
            match connect() {
                Some(mut fresh) => {
                    if to_syslog(&mut fresh, level, &msg).is_err() {
                        to_stderr(level, &msg);
                    }
                    *logger = fresh;
                }
                None => to_stderr(level, &msg),
            }
        }
        Some(Sink::Stderr) | None => to_stderr(level, &msg),
    }
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warning, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! critical {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Critical, format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_parse_in_any_case() {
        assert_eq!("debug".parse(), Ok(Level::Debug));
        assert_eq!("Warning".parse(), Ok(Level::Warning));
        assert_eq!(" CRITICAL ".parse(), Ok(Level::Critical));
        assert_eq!("verbose".parse::<Level>(), Err(()));
    }

    #[test]
    fn levels_are_ordered_by_severity() {
        assert!(Level::Debug < Level::Info);
        assert!(Level::Error < Level::Critical);
    }
}
