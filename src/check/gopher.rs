//! gala-gopher as the agent finds it: its unit, the configuration file, the generation of probe
//! control detected, and whether its control channel answers. The configuration and the
//! generation are found by the agent's own code (src/gopher/), so check says what the service
//! does.

use std::path::Path;

use super::units::{no_answer, prop, GOPHER};
use super::{Facts, Line, Status, SYSTEMD_TIMEOUT};
use crate::config::GOPHER_CONFIG_CANDIDATES as CANDIDATES;
use crate::gopher::discover::{self, Generation, Located};
use crate::gopher::Gopher;

fn located(f: &Facts) -> Located {
    let cands: Vec<&Path> = CANDIDATES.iter().map(Path::new).collect();
    discover::locate(f.conf.config.gopher_config_path.as_deref(), &cands)
}

/// Whether systemd says gala-gopher runs.
fn running(f: &Facts) -> bool {
    f.units
        .as_ref()
        .is_ok_and(|u| matches!(prop(&u.gopher, "ActiveState"), "active" | "reloading"))
}

pub fn unit(f: &Facts) -> Line {
    let id = "gala-gopher";
    let u = match &f.units {
        Ok(u) => &u.gopher,
        Err(e) => return no_answer(id, GOPHER, e),
    };
    if u.not_found() {
        return Line::new(
            id,
            Status::Warn,
            format!(
                "gala-gopher is not installed ({GOPHER} not found): plugin calls answer that it \
                 is not installed"
            ),
        )
        .fix("dnf install gala-gopher");
    }
    let state = prop(u, "ActiveState");
    let sub = prop(u, "SubState");
    match state {
        "failed" => Line::new(
            id,
            Status::Warn,
            format!("{GOPHER} has failed (result: {})", prop(u, "Result")),
        )
        .fix(format!(
            "read why: journalctl -u {GOPHER} -p err; then: systemctl reset-failed {GOPHER}"
        )),
        "active" => Line::new(
            id,
            Status::Ok,
            format!("{GOPHER} is installed, active ({sub})"),
        ),
        _ => Line::new(
            id,
            Status::Ok,
            format!("{GOPHER} is installed, {state} (the manager starts it through the agent)"),
        ),
    }
}

/// Whether gala-gopher's unit is installed, when systemd could say.
fn installed(f: &Facts) -> Option<bool> {
    f.units.as_ref().ok().map(|u| !u.gopher.not_found())
}

/// Broken probe control fails a host that has gala-gopher, and only warns one without.
fn fail_if_installed(f: &Facts) -> Status {
    match installed(f) {
        Some(false) => Status::Warn,
        _ => Status::Fail,
    }
}

fn readable_file(p: &Path) -> Result<(), String> {
    let file = std::fs::File::open(p).map_err(|e| e.to_string())?;
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err("not a regular file".into()),
        Err(e) => Err(e.to_string()),
    }
}

pub fn config(f: &Facts) -> Line {
    let id = "gala-gopher.conf";
    let found = located(f);
    let path = &found.path;
    let conf = f.conf.path.display();
    let set = f.conf.raw_value("gopher", "config_path").is_some();
    let source = if set {
        "[gopher] config_path"
    } else {
        "the default"
    };
    if let (Some(w), Ok(())) = (&found.warning, readable_file(path)) {
        return Line::new(id, Status::Warn, w.clone()).fix(format!(
            "edit {conf}: set config_path={} under [gopher]; then: systemctl restart aops-agent.service",
            path.display()
        ));
    }
    let why = match readable_file(path) {
        Ok(()) => {
            return Line::new(
                id,
                Status::Ok,
                format!("{} found ({source})", path.display()),
            )
        }
        Err(why) => why,
    };
    let other = CANDIDATES
        .iter()
        .map(Path::new)
        .find(|c| c != path && readable_file(c).is_ok());
    if let Some(other) = other {
        return Line::new(
            id,
            Status::Warn,
            format!(
                "{} ({source}): {why}; gala-gopher's configuration is at {}",
                path.display(),
                other.display()
            ),
        )
        .fix(format!(
            "edit {conf}: set config_path={} under [gopher]; then: systemctl restart aops-agent.service",
            other.display()
        ));
    }
    Line::new(
        id,
        fail_if_installed(f),
        format!(
            "{} ({source}): {why}: probes can be neither listed nor switched",
            path.display()
        ),
    )
    .fix(format!(
        "edit {conf}: set config_path under [gopher] to gala-gopher's configuration file"
    ))
}

/// The generation of probe control the agent detects, as the service would.
pub fn generation(f: &Facts) -> Line {
    let id = "gala-gopher.generation";
    let found = Gopher::new(&f.conf.config).found();
    match &found.generation {
        Generation::None(why) if readable_file(&found.config).is_err() => Line::new(
            id,
            Status::Warn,
            format!("unknown without gala-gopher's configuration ({why})"),
        )
        .fix("see the gala-gopher.conf line"),
        Generation::None(why) => Line::new(
            id,
            fail_if_installed(f),
            format!("no probe control: {why}: plugin/info lists no probes, every change fails"),
        )
        .fix(format!(
            "install gala-gopher 2.0.2 or later (gopher-ctl), or set rest_api_on = true in {}, \
                 or set [gopher] control in {}",
            found.config.display(),
            f.conf.path.display()
        )),
        g => {
            let reads = found
                .reads
                .as_ref()
                .map(|t| format!("; probes read through REST at {t}"))
                .unwrap_or_default();
            Line::new(id, Status::Ok, format!("probes switched by {g}{reads}"))
        }
    }
}

/// Whether gala-gopher answers on the channel the agent would use (2.x, while it runs).
pub fn channel(f: &Facts) -> Line {
    let id = "gala-gopher.channel";
    let gopher = Gopher::new(&f.conf.config).with_call_timeout(SYSTEMD_TIMEOUT);
    let found = gopher.found();
    if matches!(found.generation, Generation::File | Generation::None(_)) {
        return Line::new(
            id,
            Status::Ok,
            "no control channel to ask (gala-gopher 1.x is switched in its file)",
        );
    }
    if !running(f) {
        return Line::new(
            id,
            Status::Ok,
            format!(
                "{GOPHER} is not running: changes go into {}",
                found.config.with_file_name("probes.init").display()
            ),
        );
    }
    match gopher.ping(&found) {
        Some(Ok(via)) => Line::new(id, Status::Ok, format!("gala-gopher answers through {via}")),
        Some(Err(why)) => Line::new(
            id,
            Status::Fail,
            format!("gala-gopher runs but does not answer: {why}"),
        )
        .fix(format!(
            "read why: journalctl -u {GOPHER} -n 50; then: systemctl restart {GOPHER}"
        )),
        None => Line::new(id, Status::Ok, "no control channel to ask"),
    }
}
