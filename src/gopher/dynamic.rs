//! gala-gopher 2.x, whichever channel reaches it (api.md "gala-gopher 2.x"): probes are read
//! from and switched in the running daemon; while it is stopped, states come from and changes
//! go into probes.init. Nothing is ever restarted in this generation.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use super::backend::{Applied, Backend, UnitView};
use super::catalogue;
use super::channel::{is_probe_name, Answer, Channel, ChannelError};
use super::probes_init::{EditError, ProbesInit};
use super::{store, GopherError, Probe};

/// Reads at once while listing: enough to overlap the calls, few enough that 21 gopher-ctl
/// processes do not all start together.
pub const PARALLEL_READS: usize = 8;

pub struct Dynamic<'a> {
    pub channel: &'a dyn Channel,
    /// `probes.init` beside the configuration.
    pub probes_init: PathBuf,
    /// `gala-gopher-custom.json` beside the configuration: its top-level keys are probes too.
    pub custom: PathBuf,
    /// The built-in names the running build answered for last time, listed while it is
    /// stopped (the build cannot be asked then).
    pub learned: &'a Mutex<Option<Vec<String>>>,
    /// Whether the build may be 2.0.0 or 2.0.1, so their own names are worth asking: not
    /// where gopher-ctl is installed, which came with 2.0.2.
    pub older_builds: bool,
}

/// The top-level keys of gala-gopher-custom.json; none when it is missing or not an object.
pub fn custom_names(path: &Path) -> Vec<String> {
    let Ok(bytes) = store::read(path) else {
        return Vec::new();
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => m.keys().filter(|k| is_probe_name(k)).cloned().collect(),
        Ok(_) => Vec::new(),
        Err(e) => {
            crate::warning!(
                "{}: not JSON ({e}); its probes are not listed",
                path.display()
            );
            Vec::new()
        }
    }
}

fn state_of(doc: &Map<String, Value>) -> Option<&str> {
    doc.get("state").and_then(Value::as_str)
}

fn status(running: bool) -> Probe {
    Probe {
        name: String::new(),
        switch: if running { "on" } else { "off" }.into(),
        support_auto: false,
    }
}

fn probe(name: &str, running: bool) -> Probe {
    Probe {
        name: name.to_string(),
        ..status(running)
    }
}

/// `unsupported probe range: NAME` (master ends it with a `.`): the sub-item refused.
fn unsupported_sub_item(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("unsupported probe range:")?;
    let name = rest.trim().trim_end_matches('.');
    let name = name.split(|c: char| c.is_whitespace() || c == '"').next()?;
    (!name.is_empty()).then_some(name)
}

/// Whether the configuration names processes or containers to watch.
fn has_snoopers(doc: &Map<String, Value>) -> bool {
    match doc.get("snoopers") {
        Some(Value::Object(s)) => s.values().any(|v| match v {
            Value::Array(a) => !a.is_empty(),
            Value::Null => false,
            _ => true,
        }),
        _ => false,
    }
}

/// A write refused because the directory is read-only to the agent: its sandbox
/// (`ProtectSystem=strict`) opens only the `ReadWritePaths=` that existed when it started.
fn writable_hint(why: String) -> String {
    if why.contains("Read-only file system") {
        format!(
            "{why} (a directory created after aops-agent started stays read-only to it: \
             systemctl restart aops-agent)"
        )
    } else {
        why
    }
}

impl Dynamic<'_> {
    fn known(&self, name: &str, custom: &[String]) -> bool {
        is_probe_name(name) && (catalogue::is_known(name) || custom.iter().any(|c| c == name))
    }

    fn read_init(&self) -> Result<ProbesInit, GopherError> {
        match store::read(&self.probes_init) {
            Ok(b) => Ok(ProbesInit::parse(b)),
            Err(GopherError::Missing(_)) => Ok(ProbesInit::parse(Vec::new())),
            Err(e) => Err(e),
        }
    }

    /// Asks for every name at once, a few at a time; answers in the order of `names`. Once one
    /// read finds gala-gopher unreachable or silent, the names not yet asked are not asked
    /// (each would wait out the same bound) and answer with that error.
    fn ask_all(&self, names: &[String]) -> Vec<Result<Answer, ChannelError>> {
        let next = AtomicUsize::new(0);
        let given_up: Mutex<Option<ChannelError>> = Mutex::new(None);
        let slots: Vec<Mutex<Option<Result<Answer, ChannelError>>>> =
            names.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..PARALLEL_READS.min(names.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let stop = given_up.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let answer = match stop {
                        Some(e) => Err(e),
                        None => self.channel.get(name),
                    };
                    if let Err(e @ (ChannelError::Unreachable(_) | ChannelError::Timeout(_))) =
                        &answer
                    {
                        let mut g = given_up.lock().unwrap_or_else(|e| e.into_inner());
                        g.get_or_insert_with(|| e.clone());
                    }
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
                });
            }
        });
        slots
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or_else(|| Err(ChannelError::Protocol("not asked".into())))
            })
            .collect()
    }

    fn list_running(&self, custom: &[String]) -> Option<Vec<Probe>> {
        let mut names: Vec<String> = catalogue::BUILTIN.iter().map(|s| s.to_string()).collect();
        if self.older_builds {
            names.extend(catalogue::OLDER.iter().map(|s| s.to_string()));
        }
        names.extend(custom.iter().filter(|c| !catalogue::is_known(c)).cloned());
        let answers = self.ask_all(&names);
        let mut out = Vec::new();
        let mut learned = Vec::new();
        let mut errors = Vec::new();
        for (name, answer) in names.iter().zip(answers) {
            match answer {
                Ok(Answer::Doc(doc)) => {
                    out.push(probe(name, state_of(&doc) == Some("running")));
                    if catalogue::is_known(name) {
                        learned.push(name.clone());
                    }
                }
                // A name this build does not have.
                Ok(Answer::NoSuchProbe | Answer::Refused(_) | Answer::Accepted) => {}
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        if !errors.is_empty() {
            crate::warning!(
                "gala-gopher did not answer for {} of {} probes through {}: {}",
                errors.len(),
                names.len(),
                self.channel.describe(),
                errors[0]
            );
        }
        if out.is_empty() && !errors.is_empty() {
            return None;
        }
        *self.learned.lock().unwrap_or_else(|e| e.into_inner()) = Some(learned);
        Some(out)
    }

    fn list_stopped(&self, custom: &[String]) -> Vec<Probe> {
        let init = match self.read_init() {
            Ok(i) => i,
            Err(e) => {
                crate::warning!("probe states unknown: {e}");
                ProbesInit::parse(Vec::new())
            }
        };
        let learned = self
            .learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut names: Vec<String> =
            learned.unwrap_or_else(|| catalogue::BUILTIN.iter().map(|s| s.to_string()).collect());
        for n in init.names() {
            if catalogue::is_known(n) && !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        }
        for c in custom {
            if !names.contains(c) {
                names.push(c.clone());
            }
        }
        names.iter().map(|n| probe(n, init.is_running(n))).collect()
    }

    fn change_running(&self, unit: &UnitView, name: &str, on: bool) -> Result<(), String> {
        let current = match self.channel.get(name).map_err(|e| e.to_string())? {
            Answer::Doc(d) => d,
            Answer::NoSuchProbe => return Err(format!("this gala-gopher has no probe {name}")),
            Answer::Refused(m) => return Err(format!("gala-gopher: {m}")),
            Answer::Accepted => return Err("gala-gopher answered a read as a change".into()),
        };
        let running = state_of(&current) == Some("running");
        // A probe a refused change created shows `stopped` without sub-items (2.0.2): it still
        // needs its whole configuration.
        let no_subs = current
            .get("cmd")
            .and_then(|c| c.get("probe"))
            .and_then(Value::as_array)
            .map_or(true, |a| a.is_empty());
        let configured = matches!(state_of(&current), Some("running" | "stopped"))
            && (!no_subs || catalogue::sub_items(name).is_empty());
        if running == on {
            return Ok(());
        }
        let sent = if !on {
            self.send(name, &json!({"state": "stopped"}))?
        } else if configured {
            self.send(name, &json!({"state": "running"}))?
        } else {
            self.configure(name, &current)?
        };
        if !unit.saves_at_stop {
            // 2.0.0 and 2.0.1 forget run-time changes at a restart unless probes.init has them.
            let mut doc = current;
            doc.extend(sent);
            if let Err(e) = self.record(name, &doc).map_err(writable_hint) {
                crate::warning!(
                    "{name} was switched {} but will not survive a restart of gala-gopher: \
                     {} not updated: {e}",
                    if on { "on" } else { "off" },
                    self.probes_init.display()
                );
            }
        }
        Ok(())
    }

    /// Sends one document; `Ok` with what was sent once gala-gopher took it.
    fn send(&self, name: &str, doc: &Value) -> Result<Map<String, Value>, String> {
        let text = doc.to_string();
        match self.channel.set(name, &text).map_err(|e| e.to_string())? {
            Answer::Accepted => Ok(doc.as_object().cloned().unwrap_or_default()),
            Answer::Refused(m) => Err(format!("gala-gopher refused {text}: {m}")),
            Answer::NoSuchProbe => Err(format!("this gala-gopher has no probe {name}")),
            Answer::Doc(_) => Err("gala-gopher answered a change as a read".into()),
        }
    }

    /// A probe never configured: every sub-item, and for probes that filter by process or
    /// container an empty blacklist ("observe everything") unless it has snoopers. Sub-items
    /// an older build lacks are dropped as it names them; with none left, once more without
    /// `cmd`.
    fn configure(
        &self,
        name: &str,
        current: &Map<String, Value>,
    ) -> Result<Map<String, Value>, String> {
        let mut subs: Vec<&str> = catalogue::sub_items(name).to_vec();
        let mut with_cmd = !subs.is_empty();
        let blacklist = catalogue::filters_processes(name)
            && !has_snoopers(current)
            && !current.contains_key("blacklist");
        loop {
            let mut doc = Map::new();
            if with_cmd {
                doc.insert("cmd".into(), json!({"probe": subs}));
            }
            if blacklist {
                doc.insert("blacklist".into(), json!({}));
            }
            doc.insert("state".into(), json!("running"));
            let text = Value::Object(doc.clone()).to_string();
            let message = match self.channel.set(name, &text).map_err(|e| e.to_string())? {
                Answer::Accepted => return Ok(doc),
                Answer::Refused(m) => m,
                Answer::NoSuchProbe => return Err(format!("this gala-gopher has no probe {name}")),
                Answer::Doc(_) => return Err("gala-gopher answered a change as a read".into()),
            };
            match unsupported_sub_item(&message) {
                Some(sub) if with_cmd && subs.contains(&sub) => {
                    subs.retain(|s| *s != sub);
                    with_cmd = !subs.is_empty();
                }
                _ => return Err(format!("gala-gopher refused {text}: {message}")),
            }
        }
    }

    /// Records the probe's configuration in probes.init (its line replaced, or one added).
    fn record(&self, name: &str, doc: &Map<String, Value>) -> Result<(), String> {
        match store::lock(&self.probes_init) {
            Ok(locked) => {
                let init = ProbesInit::parse(locked.bytes.clone());
                let new = init.with_doc(name, doc).map_err(|e| e.to_string())?;
                locked.replace(&new).map_err(|e| e.to_string())
            }
            Err(GopherError::Missing(_)) => {
                let init = ProbesInit::parse(Vec::new());
                let new = init.with_doc(name, doc).map_err(|e| e.to_string())?;
                crate::atomic_file::replace(&self.probes_init, &new, 0o640, None)
                    .map_err(|e| format!("{}: {e}", self.probes_init.display()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// gala-gopher stopped: the state goes into the probe's existing line of probes.init.
    fn change_stopped(&self, name: &str, on: bool) -> Result<(), String> {
        let state = if on { "running" } else { "stopped" };
        let no_line = || {
            if on {
                Err(format!(
                    "gala-gopher is not running and {} has no line for {name}: which of its \
                     sub-items this gala-gopher accepts is known only while it runs; start \
                     gala-gopher, then switch {name} on",
                    self.probes_init.display()
                ))
            } else {
                // Every probe starts off.
                Ok(())
            }
        };
        let locked = match store::lock(&self.probes_init) {
            Ok(l) => l,
            Err(GopherError::Missing(_)) => return no_line(),
            Err(e) => return Err(e.to_string()),
        };
        let init = ProbesInit::parse(locked.bytes.clone());
        if init.doc(name).is_none() {
            return no_line();
        }
        match init.with_state(name, state) {
            Ok(Some(new)) => locked
                .replace(&new)
                .map_err(|e| writable_hint(e.to_string())),
            Ok(None) => Ok(()),
            Err(e @ EditError::Unparsable(_)) => {
                Err(format!("{}: {e}", self.probes_init.display()))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Backend for Dynamic<'_> {
    fn list(&self, unit: &UnitView) -> Vec<Probe> {
        let custom = custom_names(&self.custom);
        if unit.running {
            if let Some(list) = self.list_running(&custom) {
                return list;
            }
            crate::warning!(
                "gala-gopher runs but cannot be asked; listing the states of {}",
                self.probes_init.display()
            );
        }
        self.list_stopped(&custom)
    }

    fn apply(&self, unit: &UnitView, items: &[(String, String)]) -> Applied {
        let custom = custom_names(&self.custom);
        let mut out = Applied::default();
        for (name, state) in items {
            let on = match state.as_str() {
                "on" => true,
                "off" => false,
                _ => {
                    out.fail(
                        name,
                        "gala-gopher 2.x has no start check: use on or off, not auto",
                    );
                    continue;
                }
            };
            if !self.known(name, &custom) {
                out.fail(name, format!("{name:?} is not a gala-gopher probe"));
                continue;
            }
            let done = if unit.running {
                self.change_running(unit, name, on)
            } else {
                self.change_stopped(name, on)
            };
            match done {
                Ok(()) => out.ok(name),
                Err(why) => out.fail(name, why),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gopher::fake_channel::FakeGopher;
    use crate::systemd::fake::Scratch;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    const RUNNING: UnitView = UnitView {
        running: true,
        saves_at_stop: true,
    };
    const RUNNING_NO_SAVE: UnitView = UnitView {
        running: true,
        saves_at_stop: false,
    };
    const STOPPED: UnitView = UnitView {
        running: false,
        saves_at_stop: true,
    };

    struct Setup {
        dir: Scratch,
        learned: Mutex<Option<Vec<String>>>,
    }

    impl Setup {
        fn new(tag: &str) -> Setup {
            Setup {
                dir: Scratch::new(&format!("dynamic-{tag}")),
                learned: Mutex::new(None),
            }
        }

        fn on<'a>(&'a self, channel: &'a FakeGopher) -> Dynamic<'a> {
            Dynamic {
                channel,
                probes_init: self.dir.join("probes.init"),
                custom: self.dir.join("gala-gopher-custom.json"),
                learned: &self.learned,
                older_builds: true,
            }
        }

        fn init(&self) -> String {
            std::fs::read_to_string(self.dir.join("probes.init")).unwrap()
        }

        fn write_init(&self, text: &str) {
            std::fs::write(self.dir.join("probes.init"), text).unwrap();
        }
    }

    fn items(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn listed(probes: &[Probe]) -> Vec<(String, String)> {
        probes
            .iter()
            .map(|p| (p.name.clone(), p.switch.clone()))
            .collect()
    }

    #[test]
    fn a_running_build_lists_the_names_it_answers_for_then_custom_probes() {
        let s = Setup::new("list");
        let g = FakeGopher::with(&["baseinfo", "tcp", "io", "redis_sli", "mine"]);
        g.configure("tcp", json!({"state": "running"}));
        g.configure("io", json!({"state": "stopped"}));
        std::fs::write(
            s.dir.join("gala-gopher-custom.json"),
            r#"{"mine": {}, "bad name": {}}"#,
        )
        .unwrap();
        let list = s.on(&g).list(&RUNNING);
        assert_eq!(
            listed(&list),
            [
                ("baseinfo".into(), "off".into()),
                ("tcp".into(), "on".into()),
                ("io".into(), "off".into()),
                ("redis_sli".into(), "off".into()),
                ("mine".into(), "off".into()),
            ]
        );
        assert!(list.iter().all(|p| !p.support_auto));
        // Every known name was asked once, and nothing was changed.
        assert_eq!(
            g.calls.lock().unwrap().len(),
            catalogue::all_names().count() + 1
        );
        assert!(g.sets().is_empty());
        // Stopped, the same build's names are listed with probes.init's states.
        s.write_init("# header\nio {\"state\":\"running\"}\n");
        assert_eq!(
            listed(&s.on(&g).list(&STOPPED)),
            [
                ("baseinfo".into(), "off".into()),
                ("tcp".into(), "off".into()),
                ("io".into(), "on".into()),
                ("redis_sli".into(), "off".into()),
                ("mine".into(), "off".into()),
            ]
        );
    }

    #[test]
    fn a_stopped_gala_gopher_never_seen_running_lists_the_built_in_names() {
        let s = Setup::new("list-stopped");
        let g = FakeGopher::builtin();
        s.write_init("sched {\"state\":\"running\"}\nbogus {}\n");
        let list = s.on(&g).list(&STOPPED);
        assert_eq!(list.len(), catalogue::BUILTIN.len() + 1);
        assert_eq!(
            listed(&list).last().unwrap(),
            &("sched".into(), "on".into())
        );
        assert!(
            g.calls.lock().unwrap().is_empty(),
            "a stopped gala-gopher was asked"
        );
    }

    #[test]
    fn an_unreachable_daemon_lists_probes_init() {
        let s = Setup::new("list-down");
        let g = FakeGopher {
            down: true,
            ..FakeGopher::builtin()
        };
        s.write_init("tcp {\"state\":\"running\"}\n");
        let list = s.on(&g).list(&RUNNING);
        assert_eq!(list.len(), catalogue::BUILTIN.len());
        assert!(listed(&list).contains(&("tcp".into(), "on".into())));
    }

    #[test]
    fn never_configured_on_sends_every_sub_item_and_an_empty_blacklist() {
        let s = Setup::new("on-new");
        let g = FakeGopher {
            needs_snoopers_or_blacklist: true,
            ..FakeGopher::builtin()
        };
        let a = s.on(&g).apply(
            &RUNNING,
            &items(&[("tcp", "on"), ("jvm", "on"), ("ksli", "on")]),
        );
        assert_eq!(a.success, ["tcp", "jvm", "ksli"], "{:?}", a.reasons);
        assert_eq!(
            g.sets(),
            [
                "set tcp {\"blacklist\":{},\"cmd\":{\"probe\":[\"tcp_abnormal\",\"tcp_rtt\",\
                 \"tcp_windows\",\"tcp_srtt\",\"tcp_rate\",\"tcp_sockbuf\",\"tcp_stats\",\
                 \"tcp_delay\"]},\"state\":\"running\"}",
                "set jvm {\"blacklist\":{},\"state\":\"running\"}",
                "set ksli {\"state\":\"running\"}",
            ]
        );
        assert_eq!(g.state("tcp").as_deref(), Some("running"));
        assert!(
            !s.dir.join("probes.init").exists(),
            "2.0.2 saves at stop itself"
        );
        assert!(!a.restart_owed);
    }

    #[test]
    fn configured_probes_get_only_a_state_and_settled_ones_no_call() {
        let s = Setup::new("on-configured");
        let g = FakeGopher::builtin();
        g.configure(
            "io",
            json!({"cmd": {"probe": ["io_err"]}, "state": "stopped"}),
        );
        g.configure(
            "proc",
            json!({"cmd": {"probe": ["proc_io"]}, "state": "running"}),
        );
        g.configure(
            "tcp",
            json!({"cmd": {"probe": ["tcp_rtt"]}, "snoopers": {"proc_id": [7]},
                                  "state": "running"}),
        );
        // What a refused change leaves behind on 2.0.2: stopped, with no sub-item.
        g.configure("hw", json!({"state": "stopped"}));
        let a = s.on(&g).apply(
            &RUNNING,
            &items(&[
                ("io", "on"),
                ("proc", "on"),
                ("tcp", "off"),
                ("l7", "off"),
                ("hw", "on"),
            ]),
        );
        assert_eq!(
            a.success,
            ["io", "proc", "tcp", "l7", "hw"],
            "{:?}",
            a.reasons
        );
        assert_eq!(
            g.sets(),
            [
                "set io {\"state\":\"running\"}",
                "set tcp {\"state\":\"stopped\"}",
                "set hw {\"cmd\":{\"probe\":[\"hw_nic\",\"hw_mem\"]},\"state\":\"running\"}",
            ]
        );
        // Keys left out kept their values.
        assert_eq!(
            g.probes.lock().unwrap()["tcp"]["snoopers"],
            json!({"proc_id": [7]})
        );
    }

    #[test]
    fn auto_and_unknown_names_fail_without_a_call() {
        let s = Setup::new("bad-items");
        let g = FakeGopher::builtin();
        let a = s.on(&g).apply(
            &RUNNING,
            &items(&[("tcp", "auto"), ("nosuch", "on"), ("../tcp", "off")]),
        );
        assert_eq!(a.failure, ["tcp", "nosuch", "../tcp"]);
        assert!(a.reasons[0].1.contains("auto"), "{:?}", a.reasons);
        assert!(g.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn sub_items_an_older_build_lacks_are_dropped_and_the_document_sent_again() {
        for dot in [false, true] {
            let s = Setup::new("drop-sub");
            let g = FakeGopher {
                lacks: vec!["proc_pygc", "proc_ioctl"],
                dot,
                ..FakeGopher::builtin()
            };
            let a = s.on(&g).apply(&RUNNING, &items(&[("proc", "on")]));
            assert_eq!(a.success, ["proc"], "{:?}", a.reasons);
            let sets = g.sets();
            assert_eq!(sets.len(), 3, "{sets:#?}");
            assert!(
                sets[0].contains("\"proc_ioctl\",\"proc_pygc\"]"),
                "{}",
                sets[0]
            );
            assert!(!sets[1].contains("proc_ioctl") && sets[1].contains("\"proc_pygc\"]"));
            assert_eq!(
                sets[2],
                "set proc {\"blacklist\":{},\"cmd\":{\"probe\":[\"proc_syscall\",\"proc_fs\",\
                 \"proc_dns\",\"proc_io\",\"proc_pagecache\",\"proc_net\",\"proc_offcpu\"]},\
                 \"state\":\"running\"}"
            );
        }
    }

    #[test]
    fn with_every_sub_item_refused_the_document_goes_once_more_without_cmd() {
        let s = Setup::new("no-subs");
        let g = FakeGopher {
            lacks: catalogue::sub_items("sli").to_vec(),
            ..FakeGopher::builtin()
        };
        let a = s.on(&g).apply(&RUNNING, &items(&[("sli", "on")]));
        assert_eq!(a.success, ["sli"], "{:?}", a.reasons);
        let sets = g.sets();
        assert_eq!(sets.len(), catalogue::sub_items("sli").len() + 1);
        assert_eq!(
            sets.last().unwrap(),
            "set sli {\"blacklist\":{},\"state\":\"running\"}"
        );
    }

    #[test]
    fn a_refusal_that_is_not_about_sub_items_fails_the_item_with_the_message() {
        let s = Setup::new("refused");
        let g = FakeGopher {
            refuse: Some("tcp must have snoopers".into()),
            ..FakeGopher::builtin()
        };
        let a = s.on(&g).apply(&RUNNING, &items(&[("tcp", "on")]));
        assert_eq!(a.failure, ["tcp"]);
        assert!(
            a.reasons[0].1.ends_with(": tcp must have snoopers"),
            "{:?}",
            a.reasons
        );
        assert_eq!(
            g.sets().len(),
            1,
            "sent again after a refusal it cannot fix"
        );
    }

    #[test]
    fn without_exec_stop_a_live_change_is_also_recorded_in_probes_init() {
        let s = Setup::new("record");
        s.write_init("# keep me\r\nio {\"state\":\"running\"}\r\n");
        let g = FakeGopher::builtin();
        g.configure(
            "io",
            json!({"cmd": {"probe": ["io_err"]}, "state": "running"}),
        );
        let a = s
            .on(&g)
            .apply(&RUNNING_NO_SAVE, &items(&[("io", "off"), ("jvm", "on")]));
        assert_eq!(a.success, ["io", "jvm"], "{:?}", a.reasons);
        assert_eq!(
            s.init(),
            "# keep me\r\nio {\"cmd\":{\"probe\":[\"io_err\"]},\"state\":\"stopped\"}\r\n\
             jvm {\"blacklist\":{},\"state\":\"running\"}\n"
        );
    }

    #[test]
    fn stopped_changes_edit_existing_lines_only() {
        let s = Setup::new("stopped");
        let before = "# Configure in this file\ntcp {\"cmd\":{\"probe\":[\"tcp_rtt\"]}, \"state\":\"stopped\"}\n\
                      io {\"state\":\"running\"}\n";
        s.write_init(before);
        let path = s.dir.join("probes.init");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&path, Some(4242), Some(4343)).unwrap();
        let g = FakeGopher::builtin();
        let a = s.on(&g).apply(
            &STOPPED,
            &items(&[("tcp", "on"), ("io", "on"), ("jvm", "off"), ("l7", "on")]),
        );
        assert_eq!(a.success, ["tcp", "io", "jvm"]);
        assert_eq!(a.failure, ["l7"]);
        assert!(
            a.reasons[0].1.contains("start gala-gopher"),
            "{:?}",
            a.reasons
        );
        assert_eq!(
            s.init(),
            "# Configure in this file\ntcp {\"cmd\":{\"probe\":[\"tcp_rtt\"]},\"state\":\"running\"}\n\
             io {\"state\":\"running\"}\n"
        );
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.uid(), meta.gid()),
            (0o640, 4242, 4343)
        );
        assert!(
            g.calls.lock().unwrap().is_empty(),
            "a stopped gala-gopher was called"
        );
    }

    #[test]
    fn stopped_without_probes_init_off_succeeds_and_on_fails_writing_nothing() {
        let s = Setup::new("stopped-none");
        let g = FakeGopher::builtin();
        let a = s
            .on(&g)
            .apply(&STOPPED, &items(&[("tcp", "off"), ("io", "on")]));
        assert_eq!(
            (a.success, a.failure),
            (vec!["tcp".to_string()], vec!["io".to_string()])
        );
        assert!(!s.dir.join("probes.init").exists());
    }

    #[test]
    fn the_refused_sub_item_is_read_from_either_wording() {
        assert_eq!(
            unsupported_sub_item("unsupported probe range: proc_pygc"),
            Some("proc_pygc")
        );
        assert_eq!(
            unsupported_sub_item("unsupported probe range: proc_pygc."),
            Some("proc_pygc")
        );
        assert_eq!(
            unsupported_sub_item(
                "HTTP 400: { \"result\": \"failed\", \"message\":\"unsupported probe range: io\" }"
            ),
            Some("io")
        );
        assert_eq!(unsupported_sub_item("probe tcp needs snoopers"), None);
    }

    #[test]
    fn snoopers_count_only_when_they_name_something() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        assert!(!has_snoopers(&m(json!({}))));
        assert!(!has_snoopers(&m(
            json!({"snoopers": {"proc_id": [], "proc_name": []}})
        )));
        assert!(has_snoopers(&m(json!({"snoopers": {"proc_id": [42]}}))));
    }
}
