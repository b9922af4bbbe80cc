//! Everything that talks to systemd: readiness notifications here, systemctl in its own module.

pub mod notify;
