//! gala-gopher's configuration: a lossless libconfig document and the probe rules.
//!
//! Interface used by the handlers (api/plugin.rs, api/items.rs):
//! - [`read_probes`]: the probes listed in the file, for plugin/info;
//! - [`apply_switches`]: edit `switch` values in place, atomically, one change at a time.
//!
//! Both block: `apply_switches` flushes the file and its directory to disk and may wait up to
//! 10 s for a change made by another process, so an async caller runs it on a blocking thread.
//!
//! `@include` lines are kept as written but not followed: probes listed only in an included
//! file are not seen (gala-gopher's shipped files have none).

pub mod document;
pub mod lexer;
pub mod probes;
pub mod scalar;
pub mod store;

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
