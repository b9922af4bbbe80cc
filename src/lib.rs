//! aops-agent: the per-host agent of the A-Ops operations platform.

#[macro_use]
pub mod log;

pub mod allocator;
pub mod api;
pub mod atomic_file;
pub mod bounded;
pub mod check;
pub mod cli;
pub mod conf_edit;
pub mod config;
pub mod facts;
pub mod files;
pub mod firewalld;
pub mod generator;
pub mod gopher;
pub mod http;
pub mod json_kind;
pub mod peers;
pub mod process;
pub mod register;
pub mod server;
pub mod systemd;
pub mod token;
