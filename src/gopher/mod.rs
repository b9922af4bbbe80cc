//! gala-gopher probe control, for every generation in the field.
//!
//! The handlers (api/plugin.rs, api/items.rs) see one interface, [`Gopher`] (control.rs): list
//! the probes with their states, apply changes, and whether a restart is owed. Behind it, the
//! generation is detected on each call (discover.rs) and one backend does the work:
//! - file.rs, gala-gopher 1.x: a lossless libconfig document (document, lexer, scalar), the
//!   probe rules (probes.rs) and a locked atomic rewrite (store.rs), then a restart;
//! - dynamic.rs, gala-gopher 2.x, through a [`channel::Channel`]: gopher-ctl (ctl.rs) or REST
//!   (rest.rs), with probes.init (probes_init.rs) while gala-gopher is stopped.
//!
//! Everything here blocks (files flushed to disk, external programs, HTTP), so an async caller
//! runs it on a blocking thread.
//!
//! `@include` lines are kept as written but not followed: probes listed only in an included
//! file are not seen (gala-gopher's shipped files have none).

pub mod backend;
pub mod catalogue;
pub mod channel;
pub mod control;
pub mod ctl;
pub mod discover;
pub mod document;
pub mod dynamic;
#[cfg(test)]
pub mod fake_channel;
pub mod file;
pub mod lexer;
pub mod probes;
pub mod probes_init;
pub mod rest;
pub mod scalar;
pub mod store;

pub use backend::{Applied, UnitView};
pub use control::{Found, Gopher};

use std::fmt;
use std::path::Path;

pub use document::Document;

/// One entry of `probes` or `extend_probes` that has both `name` and `switch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub name: String,
    pub switch: String,
    /// The entry has `start_check`, so it may be switched to `auto`.
    pub support_auto: bool,
}

/// What one collect/items/change did to the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeResult {
    /// Item names, in request order.
    pub success: Vec<String>,
    pub failure: Vec<String>,
    /// The file was rewritten (some switch actually changed value).
    pub changed: bool,
}

#[derive(Debug)]
pub enum GopherError {
    /// The file does not exist.
    Missing(String),
    /// The file exists but cannot be read or written.
    Io(String),
    /// The file is not valid libconfig (position and reason).
    Syntax(String),
}

impl fmt::Display for GopherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GopherError::Missing(s) | GopherError::Io(s) | GopherError::Syntax(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for GopherError {}

impl ChangeResult {
    /// Every item failed and nothing was written (file missing or unparsable, plugin absent).
    pub fn all_failed(items: &[(String, String)]) -> ChangeResult {
        ChangeResult {
            success: Vec::new(),
            failure: items.iter().map(|(name, _)| name.clone()).collect(),
            changed: false,
        }
    }
}

fn syntax(path: &Path, e: lexer::SyntaxError) -> GopherError {
    GopherError::Syntax(format!("{}:{e}", path.display()))
}

/// The probes of the configuration file at `path`, `probes` first, then `extend_probes`.
pub fn read_probes(path: &Path) -> Result<Vec<Probe>, GopherError> {
    let bytes = store::read(path)?;
    let doc = Document::parse(bytes).map_err(|e| syntax(path, e))?;
    Ok(probes::entries(&doc).into_iter().map(|e| e.probe).collect())
}

/// Applies `(probe name, state)` pairs to the file at `path` under the probe rules of the
/// contract; writes only when something changed, atomically, keeping mode and owner.
///
/// A file that is missing or does not parse is an error and is never written; the caller
/// answers every item as failed ([`ChangeResult::all_failed`]).
pub fn apply_switches(
    path: &Path,
    items: &[(String, String)],
) -> Result<ChangeResult, GopherError> {
    let locked = store::lock(path)?;
    let doc = Document::parse(locked.bytes.clone()).map_err(|e| syntax(&locked.path, e))?;
    let (result, new) = probes::apply(&doc, items).map_err(|e| syntax(&locked.path, e))?;
    if let Some(new) = new {
        locked.replace(new.as_bytes())?;
    }
    Ok(result)
}
