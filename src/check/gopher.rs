//! gala-gopher as the agent finds it: its unit, and the configuration file the agent edits.
//! (The generation detected and whether its control channel answers come from src/gopher/'s
//! detection; their lines join this module.)

use std::path::Path;

use super::units::{no_answer, prop, GOPHER};
use super::{Facts, Line, Status};

/// Where gala-gopher keeps its configuration: 1.0.2 and later, then older releases.
pub const CANDIDATES: &[&str] = &[
    "/etc/gala-gopher/gala-gopher.conf",
    "/opt/gala-gopher/gala-gopher.conf",
];

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
    let path = &f.conf.config.gopher_config_path;
    let conf = f.conf.path.display();
    let set = f.conf.raw_value("gopher", "config_path").is_some();
    let source = if set {
        "[gopher] config_path"
    } else {
        "the default"
    };
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
        .find(|c| *c != path.as_path() && readable_file(c).is_ok());
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
    let status = match installed(f) {
        Some(false) => Status::Warn,
        _ => Status::Fail,
    };
    Line::new(
        id,
        status,
        format!(
            "{} ({source}): {why}: probes can be neither listed nor switched",
            path.display()
        ),
    )
    .fix(format!(
        "edit {conf}: set config_path under [gopher] to gala-gopher's configuration file"
    ))
}
