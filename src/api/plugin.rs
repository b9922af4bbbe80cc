//! plugin/start, plugin/stop, plugin/info: gala-gopher under systemd.

use super::{ApiError, Ctx, Outcome};
use crate::config::Config;

/// The plugins the agent can manage; the manager knows no others.
pub const SUPPORTED: &[&str] = &["gala-gopher"];

/// State shared by the gala-gopher handlers across requests.
pub struct PluginState {}

impl PluginState {
    pub fn new(_config: &Config) -> PluginState {
        PluginState {}
    }
}

fn check_supported(plugin: &str) -> Result<(), ApiError> {
    if SUPPORTED.contains(&plugin) {
        Ok(())
    } else {
        Err(ApiError::Parameter(format!(
            "unsupported plugin {plugin:?} (supported: {})",
            SUPPORTED.join(", ")
        )))
    }
}

pub fn start(_ctx: &Ctx, plugin: &str) -> Outcome {
    check_supported(plugin)?;
    Err(ApiError::Pending("gala-gopher control"))
}

pub fn stop(_ctx: &Ctx, plugin: &str) -> Outcome {
    check_supported(plugin)?;
    Err(ApiError::Pending("gala-gopher control"))
}

/// Asks for gala-gopher to be restarted (if it runs) so a configuration change takes effect.
/// Restarts are coalesced: a burst of changes must not trip systemd's start limit.
pub fn schedule_restart(_ctx: &Ctx) {}

/// Whether the plugin's systemd unit is installed on this host.
pub fn is_installed(_ctx: &Ctx, _plugin: &str) -> bool {
    false
}

pub fn info(_ctx: &Ctx) -> Outcome {
    Err(ApiError::Pending("gala-gopher control"))
}
