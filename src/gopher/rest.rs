//! The REST channel (gala-gopher 2.0.0 and later, where its configuration turns it on):
//! `GET /NAME` reads a probe, `PUT /NAME` with the body `json=<JSON>` configures it.
//!
//! The body goes unencoded with the form content type: 2.0.0's server decodes the form (our
//! documents hold no character that decoding changes), later ones take the bytes as they are.
//! Replies are built in a 128-byte buffer, so a long message arrives cut and is not valid
//! JSON; such a reply is judged by its HTTP status.

use std::io;
use std::time::Duration;

use serde_json::Value;

use super::channel::{result_of, Answer, Channel, ChannelError};
use super::ctl::clip;
use super::discover::RestTarget;

/// A loopback connection is made at once or not at all.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A read or a change answers in milliseconds.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// 2.0.0 caps a form at 2048 bytes; replies are shorter still.
const MAX_REPLY: u64 = 64 * 1024;

pub struct Rest {
    target: RestTarget,
    agent: ureq::Agent,
}

impl Rest {
    pub fn new(target: RestTarget, call_timeout: Duration) -> Rest {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT.min(call_timeout)))
            .timeout_global(Some(call_timeout))
            .http_status_as_error(false)
            // gala-gopher listens on this host; no proxy stands in between.
            .proxy(None)
            .max_redirects(0)
            .build()
            .into();
        Rest { target, agent }
    }

    pub fn target(&self) -> &RestTarget {
        &self.target
    }

    fn url(&self, probe: &str) -> String {
        format!("{}/{probe}", self.target)
    }

    fn error(&self, e: ureq::Error) -> ChannelError {
        let at = &self.target;
        match e {
            ureq::Error::Timeout(_) => {
                ChannelError::Timeout(format!("gala-gopher's REST API at {at} did not answer in time"))
            }
            ureq::Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                ChannelError::Unreachable(format!(
                    "gala-gopher's REST API at {at} refused the connection (is gala-gopher running, \
                     with rest_api_on = true?)"
                ))
            }
            ureq::Error::Io(e) => {
                ChannelError::Unreachable(format!("gala-gopher's REST API at {at}: {e}"))
            }
            other => ChannelError::Protocol(format!("gala-gopher's REST API at {at}: {other}")),
        }
    }

    fn refuse_https(&self) -> Result<(), ChannelError> {
        if self.target.https {
            return Err(ChannelError::Unreachable(format!(
                "gala-gopher's REST API at {} uses HTTPS (rest_api_server.ssl_auth = \"on\"), which \
                 the agent does not speak: install gopher-ctl (gala-gopher 2.0.2 and later) or \
                 turn ssl_auth off",
                self.target
            )));
        }
        Ok(())
    }

    fn exchange(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String), ChannelError> {
        let mut response = sent.map_err(|e| self.error(e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|e| self.error(e))?;
        Ok((status, text))
    }
}

impl Channel for Rest {
    fn describe(&self) -> String {
        format!("REST at {}", self.target)
    }

    fn get(&self, probe: &str) -> Result<Answer, ChannelError> {
        self.refuse_https()?;
        let (status, text) = self.exchange(self.agent.get(&self.url(probe)).call())?;
        match status {
            200 => match serde_json::from_str::<Value>(text.trim()) {
                Ok(Value::Object(doc)) => Ok(Answer::Doc(doc)),
                _ => Err(ChannelError::Protocol(format!(
                    "GET {} answered 200 without a probe configuration: {:?}",
                    self.url(probe),
                    clip(&text)
                ))),
            },
            404 => Ok(Answer::NoSuchProbe),
            _ => Ok(Answer::Refused(refusal(status, &text))),
        }
    }

    fn set(&self, probe: &str, doc: &str) -> Result<Answer, ChannelError> {
        self.refuse_https()?;
        let body = format!("json={doc}");
        let sent = self
            .agent
            .put(&self.url(probe))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body.as_bytes());
        let (status, text) = self.exchange(sent)?;
        match status {
            200 => Ok(Answer::Accepted),
            404 => Ok(Answer::NoSuchProbe),
            _ => Ok(Answer::Refused(refusal(status, &text))),
        }
    }
}

/// gala-gopher's message where the reply parses, else what arrived of it, with the status.
fn refusal(status: u16, text: &str) -> String {
    match result_of(text) {
        Some(Err(message)) if !message.is_empty() => message,
        _ if text.trim().is_empty() => format!("HTTP {status}"),
        _ => format!("HTTP {status}: {}", clip(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_gala_gophers_message_or_what_arrived() {
        assert_eq!(
            refusal(
                400,
                "{ \"result\": \"failed\", \"message\":\"unsupported probe range: x.\" }"
            ),
            "unsupported probe range: x."
        );
        assert_eq!(
            refusal(
                400,
                "{ \"result\": \"failed\", \"message\":\"unsupported probe ra"
            ),
            "HTTP 400: { \"result\": \"failed\", \"message\":\"unsupported probe ra"
        );
        assert_eq!(refusal(500, ""), "HTTP 500");
    }

    /// A server answering each connection with `reply`, recording what it was sent.
    fn serve(reply: &'static [u8]) -> (RestTarget, std::sync::mpsc::Receiver<Vec<u8>>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { return };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                // Headers, then the body Content-Length announces.
                loop {
                    let n = c.read(&mut buf).unwrap_or(0);
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len || n == 0 {
                            break;
                        }
                    } else if n == 0 {
                        break;
                    }
                }
                let _ = tx.send(got);
                let _ = c.write_all(reply);
            }
        });
        let target = RestTarget {
            host: "127.0.0.1".parse().unwrap(),
            port,
            https: false,
        };
        (target, rx)
    }

    #[test]
    fn a_reply_cut_at_gala_gophers_buffer_is_judged_by_its_status() {
        // 127 bytes of a failure message: no longer JSON.
        const CUT: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 127\r\n\r\n\
{ \"result\": \"failed\", \"message\":\"unsupported probe range: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
        let (target, rx) = serve(CUT);
        let r = Rest::new(target, Duration::from_secs(2));
        match r.set("proc", "{\"state\":\"running\"}").unwrap() {
            Answer::Refused(m) => assert!(m.starts_with("HTTP 400: { \"result\""), "{m}"),
            other => panic!("{other:?}"),
        }
        let sent = String::from_utf8(rx.recv().unwrap()).unwrap();
        assert!(sent.starts_with("PUT /proc HTTP/1.1\r\n"), "{sent}");
        assert!(
            sent.to_ascii_lowercase()
                .contains("content-type: application/x-www-form-urlencoded\r\n"),
            "{sent}"
        );
        assert!(
            sent.ends_with("\r\n\r\njson={\"state\":\"running\"}"),
            "{sent}"
        );

        const CUT_OK: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n{ \"result\": \"succes";
        let (target, _rx) = serve(CUT_OK);
        let r = Rest::new(target, Duration::from_secs(2));
        assert_eq!(r.set("io", "{}").unwrap(), Answer::Accepted);
    }

    #[test]
    fn a_silent_server_is_a_timeout_and_a_closed_port_unreachable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = RestTarget {
            host: "127.0.0.1".parse().unwrap(),
            port,
            https: false,
        };
        let started = std::time::Instant::now();
        let e = Rest::new(t.clone(), Duration::from_millis(300))
            .get("tcp")
            .unwrap_err();
        assert!(matches!(e, ChannelError::Timeout(_)), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(l);
        let e = Rest::new(t, Duration::from_millis(300))
            .get("tcp")
            .unwrap_err();
        assert!(matches!(e, ChannelError::Unreachable(_)), "{e:?}");
    }

    #[test]
    fn https_is_refused_before_any_connection() {
        let r = Rest::new(
            RestTarget {
                host: "127.0.0.1".parse().unwrap(),
                port: 1,
                https: true,
            },
            Duration::from_secs(1),
        );
        let e = r.get("tcp").unwrap_err();
        assert!(e.to_string().contains("ssl_auth"), "{e}");
    }
}
