//! The audit trail (issue: every call that acts on the host names its peer in the journal):
//! plugin start/stop and collect/items/change, against the stand-in systemctl. file/collect's
//! line is checked in tests/credentials.rs.

mod common;
#[path = "support/standin.rs"]
mod standin;

use std::time::Duration;

use common::{Agent, Options, TempDir};
use standin::Standin;

#[test]
fn calls_that_act_on_the_host_are_logged_with_their_peer() {
    let dir = TempDir::new("audit");
    let standin = Standin::new(&dir.join("systemd"));
    standin.install("gala-gopher.service", &[("ActiveState", "inactive")]);
    let a = Agent::start_with(Options {
        extra_conf: format!(
            "[gopher]\nconfig_path={}\n",
            dir.join("missing-gala-gopher.conf").display()
        ),
        env: standin.env(),
        log_level: "INFO",
        ..Options::default()
    });
    let code = |path: &str, body: Option<&str>| a.call("POST", path, body).code();
    assert_eq!(
        code("/v1/agent/plugin/start?plugin_name=gala-gopher", None),
        200
    );
    assert_eq!(code("/v1/agent/plugin/stop?plugin_name=nginx", None), 1000);
    let body = r#"{"gala-gopher": {"tcp": "on", "evil\nINFO: forged": "off"}}"#;
    assert_eq!(code("/v1/agent/collect/items/change", Some(body)), 200);
    for line in [
        "INFO: audit: plugin/start \"gala-gopher\" from 127.0.0.1: code 200",
        "INFO: audit: plugin/stop \"nginx\" from 127.0.0.1: code 1000",
        "INFO: audit: collect/items/change from 127.0.0.1: asked \"gala-gopher\": \
         \"evil\\nINFO: forged\"=\"off\" \"tcp\"=\"on\"; code 200; \"gala-gopher\" success [] \
         failure [",
    ] {
        a.wait_for_log(line, Duration::from_secs(5));
    }
    // Caller text cannot start a journal line of its own.
    assert!(!a.log_text().lines().any(|l| l.starts_with("INFO: forged")));
    // Reads of host facts are not audited.
    assert_eq!(a.call("GET", "/v1/agent/host/info", None).code(), 200);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        a.log_text().matches("audit:").count(),
        3,
        "{}",
        a.log_text()
    );
}
