//! sd_notify: READY=1, STATUS= and STOPPING=1 for `Type=notify`. Without `NOTIFY_SOCKET` (not
//! started by systemd) these do nothing.

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        crate::warning!("cannot notify systemd: {e}");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}
