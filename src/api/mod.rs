//! Handlers: one module per endpoint group. Each takes a checked [`Call`] and answers with a
//! [`Reply`] or an [`ApiError`]; `http::envelope` turns those into the contract's codes.

pub mod application;
pub mod file_collect;
pub mod host;
pub mod items;
pub mod plugin;

use std::path::PathBuf;

use serde_json::Value;

use crate::config::Config;
use crate::token::TokenStore;

/// Everything a handler may need, built once at start-up.
pub struct Ctx {
    pub config: Config,
    /// Root under which host facts are read (`AOPS_AGENT_SYSROOT`, default `/`).
    pub sysroot: PathBuf,
    pub tokens: TokenStore,
    pub plugins: plugin::PluginState,
    pub gopher: crate::gopher::Gopher,
}

impl Ctx {
    pub fn new(config: Config) -> Ctx {
        Ctx {
            sysroot: crate::facts::root::sysroot_from_env(),
            tokens: TokenStore::new(&config.token_file),
            plugins: plugin::PluginState::new(&config),
            gopher: crate::gopher::Gopher::new(&config),
            config,
        }
    }
}

/// A request that passed routing, shape and token checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    PluginStart {
        plugin: String,
    },
    PluginStop {
        plugin: String,
    },
    ApplicationInfo,
    /// Empty `types` means all four.
    HostInfo {
        types: Vec<String>,
    },
    PluginInfo,
    CollectItemsChange {
        body: Option<Value>,
    },
    FileCollect {
        paths: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Code 200 in the envelope, with `resp` when there is data.
    Success(Option<Value>),
    /// A bare JSON body (file/collect), no envelope.
    Raw(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// A value the contract does not accept (code 1000); says which.
    Parameter(String),
    /// The thing to act on is not installed (code 410).
    NotInstalled(String),
    /// The work was attempted and failed on this host (code 500); says why.
    Failed(String),
    /// The endpoint's implementation has not landed yet (code 1002); names the capability.
    Pending(&'static str),
}

impl ApiError {
    /// Failures go to the journal at ERROR; a caller's mistake is only INFO.
    pub fn log(&self, path: &str) {
        match self {
            ApiError::Parameter(why) => crate::info!("{path}: parameter error: {why}"),
            ApiError::NotInstalled(what) => crate::info!("{path}: {what} is not installed"),
            ApiError::Failed(why) => crate::error!("{path} failed: {why}"),
            ApiError::Pending(what) => {
                crate::warning!("{path}: {what} is not available in this build")
            }
        }
    }
}

pub type Outcome = Result<Reply, ApiError>;

pub fn dispatch(ctx: &Ctx, call: Call) -> Outcome {
    match call {
        Call::PluginStart { plugin } => plugin::start(ctx, &plugin),
        Call::PluginStop { plugin } => plugin::stop(ctx, &plugin),
        Call::PluginInfo => plugin::info(ctx),
        Call::ApplicationInfo => application::info(ctx),
        Call::HostInfo { types } => host::info(ctx, &types),
        Call::CollectItemsChange { body } => items::change(ctx, body),
        Call::FileCollect { paths } => file_collect::collect(ctx, &paths),
    }
}
