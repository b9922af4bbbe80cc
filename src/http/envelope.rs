//! The two reply shapes of the contract, and the one place where errors become contract codes.
//!
//! Every JSON body goes through [`json_bytes`], which serialises through `serde_json::Value`:
//! its maps are ordered, so object keys come out sorted as the manager expects.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::api::{ApiError, Reply};

pub type Body = Full<Bytes>;

pub const SUCCEED: u16 = 200;
pub const FILE_CORRUPTED: u16 = 202;
pub const PARTIAL_SUCCEED: u16 = 206;
pub const FILE_NOT_FOUND: u16 = 410;
pub const SERVER_ERROR: u16 = 500;
pub const PARAM_ERROR: u16 = 1000;
pub const HTTP_CONNECT_ERROR: u16 = 1001;
pub const UNKNOWN_ERROR: u16 = 1002;
pub const TOKEN_ERROR: u16 = 1201;

/// The fixed message the manager expects beside each code.
pub fn message(code: u16) -> &'static str {
    match code {
        SUCCEED => "operate success",
        FILE_CORRUPTED => "file structure corrupted",
        PARTIAL_SUCCEED => "request partial succeed",
        FILE_NOT_FOUND => "file not found",
        PARAM_ERROR => "parameter error",
        HTTP_CONNECT_ERROR => "url connection error",
        TOKEN_ERROR => "the session is invalid",
        _ => "unknown error",
    }
}

/// The contract code for each error a handler can return.
pub fn code_of(e: &ApiError) -> u16 {
    match e {
        ApiError::Parameter(_) => PARAM_ERROR,
        ApiError::NotInstalled(_) => FILE_NOT_FOUND,
        ApiError::Failed(_) => SERVER_ERROR,
        ApiError::Pending(_) => UNKNOWN_ERROR,
    }
}

pub fn json_bytes(v: &Value) -> Bytes {
    // Round-trip through Value so struct fields are sorted too.
    let v = serde_json::to_value(v).unwrap_or(Value::Null);
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(json_bytes(v)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn envelope_value(code: u16, resp: Option<Value>) -> Value {
    let mut v = json!({ "code": code, "msg": message(code) });
    if let Some(resp) = resp {
        v["resp"] = resp;
    }
    v
}

/// HTTP 200 with `{"code", "msg"[, "resp"]}`.
pub fn envelope(code: u16, resp: Option<Value>) -> Response<Body> {
    json_response(StatusCode::OK, &envelope_value(code, resp))
}

/// Turns a handler's outcome into the response; returns the contract code for the request log.
pub fn reply(outcome: Result<Reply, ApiError>) -> (Response<Body>, u16) {
    match outcome {
        Ok(Reply::Success(resp)) => (envelope(SUCCEED, resp), SUCCEED),
        Ok(Reply::Raw(v)) => (json_response(StatusCode::OK, &v), SUCCEED),
        Err(e) => {
            let code = code_of(&e);
            (envelope(code, None), code)
        }
    }
}

/// The error body the previous agent's framework produced; the manager and scripts know it.
pub fn problem(status: StatusCode, detail: &str) -> Response<Body> {
    let title = status.canonical_reason().unwrap_or("Error");
    json_response(
        status,
        &json!({ "detail": detail, "status": status.as_u16(), "title": title, "type": "about:blank" }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted() {
        let v = json!({"zeta": 1, "alpha": {"y": 1, "b": 2}, "code": 200});
        assert_eq!(
            std::str::from_utf8(&json_bytes(&v)).unwrap(),
            r#"{"alpha":{"b":2,"y":1},"code":200,"zeta":1}"#
        );
    }

    #[test]
    fn envelope_has_fixed_messages() {
        assert_eq!(
            envelope_value(1201, None),
            json!({"code": 1201, "msg": "the session is invalid"})
        );
        assert_eq!(
            envelope_value(200, Some(json!([]))),
            json!({"code": 200, "msg": "operate success", "resp": []})
        );
        assert_eq!(message(4242), "unknown error");
        assert_eq!(message(500), "unknown error");
    }
}
