//! Everything that talks to systemd: readiness notifications, and `systemctl` behind the
//! [`Systemd`] trait so handlers can be tested without a running systemd.

pub mod cgroup;
pub mod journal;
pub mod notify;
pub mod restart;
pub mod show;
pub mod systemctl;
pub mod value;

pub use show::UnitProps;
pub use systemctl::{Systemctl, SystemdError};

/// The unit operations the agent needs. Every call reports success or systemd's reason.
pub trait Systemd: Send + Sync {
    /// `systemctl show -p PROPS UNITS...`: one property map per unit, in the order asked.
    fn show(&self, units: &[&str], props: &[&str]) -> Result<Vec<UnitProps>, SystemdError>;
    /// `systemctl list-units --all UNITS...`: the active state of those of `units` that systemd
    /// has loaded, as (unit, ActiveState). Units systemd does not know are left out; a running
    /// unit is always loaded. Unlike `show`, it never makes systemd look for unit files.
    fn loaded_states(&self, units: &[&str]) -> Result<Vec<(String, String)>, SystemdError>;
    fn start(&self, unit: &str) -> Result<(), SystemdError>;
    fn stop(&self, unit: &str) -> Result<(), SystemdError>;
    /// Restarts the unit if it is running; does nothing otherwise.
    fn try_restart(&self, unit: &str) -> Result<(), SystemdError>;
}

#[cfg(test)]
pub mod fake;
