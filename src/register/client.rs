//! The one request to aops-manager: `POST /manage/host/add`, and what its answer means.

use std::io;
use std::time::Duration;

use serde_json::Value;

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the whole exchange may take, answer included.
pub const WHOLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortens [`WHOLE_TIMEOUT`] (never lengthens it), so tests of a silent manager finish quickly.
pub const TIMEOUT_ENV: &str = "AOPS_AGENT_REGISTER_TIMEOUT_MS";
/// The manager's answer is a few hundred bytes; anything past this is not one.
const MAX_REPLY_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub whole: Duration,
}

impl Timeouts {
    pub fn from_env() -> Timeouts {
        Timeouts::with_override(std::env::var(TIMEOUT_ENV).ok().as_deref())
    }

    /// The defaults, with the whole-request timeout shortened to `ms` milliseconds if given.
    pub fn with_override(ms: Option<&str>) -> Timeouts {
        let whole = ms
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .filter(|d| !d.is_zero())
            .map_or(WHOLE_TIMEOUT, |d| d.min(WHOLE_TIMEOUT));
        Timeouts {
            connect: CONNECT_TIMEOUT.min(whole),
            whole,
        }
    }
}

fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Errors that mean no connection was made (rather than one that broke).
fn is_connect_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionRefused
        || matches!(
            e.raw_os_error(),
            Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EADDRNOTAVAIL)
        )
}

/// Sends `body` to `url` and returns the token; the `Err` is the one line for the operator.
pub fn add_host(url: &str, address: &str, body: &Value, t: Timeouts) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(t.connect))
        .timeout_global(Some(t.whole))
        .http_status_as_error(false)
        // The manager is reached directly: through a proxy, the public_ip sent (the local
        // address of the route to the manager) would not be the one the manager sees.
        .proxy(None)
        .max_redirects(0)
        .build()
        .into();
    // The contract's exact header (send_json would add "; charset=utf-8").
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let sent = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(&bytes[..]);
    let mut response = sent.map_err(|e| match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => format!(
            "cannot connect to the manager at {address}: no connection within {}",
            seconds(t.connect)
        ),
        ureq::Error::Timeout(_) => format!(
            "timed out: the manager at {address} did not answer within {}",
            seconds(t.whole)
        ),
        ureq::Error::Io(e) if is_connect_error(&e) => {
            format!("cannot connect to the manager at {address}: {e}")
        }
        ureq::Error::Io(e) => format!("the connection to the manager at {address} failed: {e}"),
        ureq::Error::HostNotFound => format!("cannot resolve the manager's address {address}"),
        other => format!("the request to the manager at {address} failed: {other}"),
    })?;
    let status = response.status();
    if status.as_u16() != 200 {
        return Err(format!(
            "the manager at {address} answered HTTP status {status} instead of 200"
        ));
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_REPLY_BYTES)
        .read_to_string()
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => format!(
                "timed out: the manager at {address} did not finish its answer within {}",
                seconds(t.whole)
            ),
            other => format!("cannot read the answer of the manager at {address}: {other}"),
        })?;
    interpret(&text)
}

/// The manager's JSON answer: the token on code 200, else its code and message.
pub fn interpret(text: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(text).map_err(|_| {
        let shown: String = text.chars().take(120).collect();
        format!("the manager's answer is not JSON: {shown:?}")
    })?;
    let code = v.get("code");
    let msg = v.get("msg").and_then(Value::as_str).unwrap_or("");
    match code.and_then(Value::as_i64) {
        Some(200) => match v.get("token") {
            Some(Value::String(t)) if !t.is_empty() => Ok(t.clone()),
            _ => Err("the manager answered code 200 but gave no token".into()),
        },
        Some(code) => Err(format!("the manager refused: code {code}, msg {msg:?}")),
        None => Err(format!(
            "the manager's answer has no numeric \"code\": {}",
            text.chars().take(120).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_interpreted() {
        assert_eq!(
            interpret(r#"{"code": 200, "msg": "operate success", "token": "abc"}"#),
            Ok("abc".into())
        );
        assert_eq!(
            interpret(r#"{"code": 1103, "msg": "wrong password"}"#),
            Err("the manager refused: code 1103, msg \"wrong password\"".into())
        );
        assert_eq!(
            interpret(r#"{"code": 200, "msg": "ok", "token": ""}"#),
            Err("the manager answered code 200 but gave no token".into())
        );
        assert_eq!(
            interpret("<html>oops</html>"),
            Err("the manager's answer is not JSON: \"<html>oops</html>\"".into())
        );
        assert!(interpret(r#"{"code": "200"}"#)
            .unwrap_err()
            .contains("no numeric \"code\""));
    }

    #[test]
    fn the_override_only_shortens() {
        let t = |v| Timeouts::with_override(v);
        let default = Timeouts {
            connect: CONNECT_TIMEOUT,
            whole: WHOLE_TIMEOUT,
        };
        assert_eq!(t(None), default);
        assert_eq!(t(Some("60000")), default);
        assert_eq!(t(Some("0")), default);
        assert_eq!(t(Some("soon")), default);
        let short = Duration::from_millis(1000);
        assert_eq!(
            t(Some("1000")),
            Timeouts {
                connect: short,
                whole: short
            }
        );
        assert_eq!(t(Some("7000")).connect, CONNECT_TIMEOUT);
    }

    #[test]
    fn seconds_read_well() {
        assert_eq!(seconds(Duration::from_secs(10)), "10 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
