//! gala-gopher's configuration: a lossless libconfig document and the probe rules.
//!
//! Interface used by the handlers (api/plugin.rs, api/items.rs):
//! - [`read_probes`]: the probes listed in the file, for plugin/info;
//! - [`apply_switches`]: edit `switch` values in place, atomically, one change at a time.

use std::fmt;
use std::path::Path;

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

/// The probes of the configuration file at `path`, `probes` first, then `extend_probes`.
pub fn read_probes(_path: &Path) -> Result<Vec<Probe>, GopherError> {
    Err(GopherError::Io(
        "probe reading is not available in this build".into(),
    ))
}

/// Applies `(probe name, state)` pairs to the file at `path` under the probe rules of the
/// contract; writes only when something changed, atomically, keeping mode and owner.
pub fn apply_switches(
    _path: &Path,
    items: &[(String, String)],
) -> Result<ChangeResult, GopherError> {
    let _ = items;
    Err(GopherError::Io(
        "probe switching is not available in this build".into(),
    ))
}
