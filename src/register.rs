//! `aops_agent register`: enroll this host with aops-manager and save the token.

use crate::cli::RegisterSource;
use crate::config::Config;

/// Runs the registration; `Err` is the one line printed after "Agent Register Fail".
pub fn run(_config: &Config, _source: &RegisterSource) -> Result<(), String> {
    Err("registration is not available in this build".into())
}
