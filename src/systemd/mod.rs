//! Everything that talks to systemd: readiness notifications, and `systemctl` behind the
//! [`Systemd`] trait so handlers can be tested without a running systemd.

pub mod cgroup;
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
    fn start(&self, unit: &str) -> Result<(), SystemdError>;
    fn stop(&self, unit: &str) -> Result<(), SystemdError>;
    /// Restarts the unit if it is running; does nothing otherwise.
    fn try_restart(&self, unit: &str) -> Result<(), SystemdError>;
}

#[cfg(test)]
pub mod fake;
