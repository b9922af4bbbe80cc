//! The gala-gopher of this host, as the handlers see it: found, its generation detected on every
//! call (a cheap stat and read of a small file, so an upgrade under a running agent is noticed),
//! and the one backend that generation needs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::backend::{Applied, Backend, UnitView};
use super::channel::{Channel, Split};
use super::ctl::{self, GopherCtl};
use super::discover::{self, Facts, Generation};
use super::dynamic::Dynamic;
use super::rest::{self, Rest};
use super::{file, store, Document, Probe};
use crate::config::{self, Config, GopherControl};

pub struct Gopher {
    explicit: Option<PathBuf>,
    control: GopherControl,
    candidates: Vec<PathBuf>,
    call_timeout: Duration,
    /// One change at a time across every backend: a read-then-set is not atomic in gala-gopher.
    change: Mutex<()>,
    learned: Mutex<Option<Vec<String>>>,
    /// What the journal was last told about the generation, to tell it again only on a change.
    logged: Mutex<String>,
    /// The REST client, kept while the address stays the same so its connections are reused.
    rest: Mutex<Option<Arc<Rest>>>,
}

/// What was found on this host at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub config: PathBuf,
    pub generation: Generation,
    /// Set when agent.conf named a configuration that is not there.
    pub warning: Option<String>,
    /// With gopher-ctl: the REST API probes are read through, where it is on.
    pub reads: Option<discover::RestTarget>,
}

struct NoControl(String);

impl Backend for NoControl {
    fn list(&self, _unit: &UnitView) -> Vec<Probe> {
        Vec::new()
    }

    fn apply(&self, _unit: &UnitView, items: &[(String, String)]) -> Applied {
        Applied::all_failed(items, &format!("no probe control on this host: {}", self.0))
    }
}

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Gopher {
    pub fn new(config: &Config) -> Gopher {
        let candidates = config::GOPHER_CONFIG_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .collect();
        Gopher::with_candidates(config, candidates)
    }

    /// As [`Gopher::new`], looking for an unset `[gopher] config_path` at `candidates`.
    pub fn with_candidates(config: &Config, candidates: Vec<PathBuf>) -> Gopher {
        Gopher {
            explicit: config.gopher_config_path.clone(),
            control: config.gopher_control,
            candidates,
            call_timeout: ctl::timeout_from_env(),
            change: Mutex::new(()),
            learned: Mutex::new(None),
            logged: Mutex::new(String::new()),
            rest: Mutex::new(None),
        }
    }

    /// The same, with every call to gala-gopher bounded by `timeout` (`aops_agent check`).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Gopher {
        self.call_timeout = self.call_timeout.min(timeout);
        self
    }

    /// One read through the channel `found` names, to tell whether gala-gopher answers on it;
    /// `None` where there is no channel (1.x, or no probe control).
    pub fn ping(&self, found: &Found) -> Option<Result<String, String>> {
        let ask = |c: &dyn Channel| match c.get("baseinfo") {
            Ok(_) => Ok(c.describe()),
            Err(e) => Err(e.to_string()),
        };
        match &found.generation {
            Generation::GopherCtl(program) => {
                let ctl = GopherCtl::new(program.clone(), self.call_timeout);
                Some(match &found.reads {
                    Some(t) => {
                        let rest = self.rest(t);
                        ask(&ctl).and_then(|_| ask(&*rest)).map(|_| {
                            Split {
                                reads: &*rest,
                                changes: &ctl,
                            }
                            .describe()
                        })
                    }
                    None => ask(&ctl),
                })
            }
            Generation::Rest(t) => Some(ask(&*self.rest(t))),
            Generation::File | Generation::None(_) => None,
        }
    }

    /// Locates the configuration and detects the generation, telling the journal when either
    /// differs from what it was last told.
    pub fn found(&self) -> Found {
        let cands: Vec<&Path> = self.candidates.iter().map(PathBuf::as_path).collect();
        let located = discover::locate(self.explicit.as_deref(), &cands);
        let parsed = store::read(&located.path).and_then(|b| {
            Document::parse(b)
                .map_err(|e| super::GopherError::Syntax(format!("{}:{e}", located.path.display())))
        });
        let why = parsed.as_ref().err().map(|e| e.to_string());
        let program = discover::gopher_ctl_program();
        let generation = discover::detect(&Facts {
            control: self.control,
            config: parsed.as_ref().map_err(|_| why.as_deref().unwrap_or("")),
            gopher_ctl: &program,
            gopher_ctl_exists: executable(&program),
        });
        let reads = match (&generation, &parsed) {
            (Generation::GopherCtl(_), Ok(doc)) => discover::rest_reads(doc),
            _ => None,
        };
        let found = Found {
            config: located.path,
            generation,
            warning: located.warning,
            reads,
        };
        self.tell(&found);
        found
    }

    fn tell(&self, f: &Found) {
        let reads = f
            .reads
            .as_ref()
            .map(|t| format!(", probes read through REST at {t}"))
            .unwrap_or_default();
        let line = format!(
            "gala-gopher probe control: {}{reads} (configuration {}, [gopher] control = {})",
            f.generation,
            f.config.display(),
            self.control.name()
        );
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if *logged != line {
            if let Some(w) = &f.warning {
                crate::warning!("{w}");
            }
            crate::info!("{line}");
            *logged = line;
        }
    }

    fn rest(&self, target: &discover::RestTarget) -> Arc<Rest> {
        let mut slot = self.rest.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(r) if r.target() == target => Arc::clone(r),
            _ => {
                let r = Arc::new(Rest::new(
                    target.clone(),
                    self.call_timeout.min(rest::CALL_TIMEOUT),
                ));
                *slot = Some(Arc::clone(&r));
                r
            }
        }
    }

    fn with_backend<R>(&self, found: &Found, run: impl FnOnce(&dyn Backend) -> R) -> R {
        let dir = found.config.parent().unwrap_or(Path::new("/"));
        let dynamic = |channel, older_builds| Dynamic {
            channel,
            probes_init: dir.join("probes.init"),
            custom: dir.join("gala-gopher-custom.json"),
            learned: &self.learned,
            older_builds,
        };
        match &found.generation {
            Generation::File => run(&file::File {
                config: &found.config,
            }),
            Generation::GopherCtl(program) => {
                let ctl = GopherCtl::new(program.clone(), self.call_timeout);
                match &found.reads {
                    Some(target) => {
                        let rest = self.rest(target);
                        let split = Split {
                            reads: &*rest,
                            changes: &ctl,
                        };
                        run(&dynamic(&split, false))
                    }
                    None => run(&dynamic(&ctl, false)),
                }
            }
            Generation::Rest(target) => {
                let rest = self.rest(target);
                run(&dynamic(&*rest, true))
            }
            Generation::None(why) => run(&NoControl(why.clone())),
        }
    }

    /// plugin/info's collect_items.
    pub fn list(&self, unit: &UnitView) -> Vec<Probe> {
        let found = self.found();
        self.with_backend(&found, |b| b.list(unit))
    }

    /// collect/items/change for gala-gopher, one change at a time.
    pub fn apply(&self, unit: &UnitView, items: &[(String, String)]) -> Applied {
        let _one = self.change.lock().unwrap_or_else(|e| e.into_inner());
        let found = self.found();
        self.with_backend(&found, |b| b.apply(unit, items))
    }
}
