//! The registration object (`-f FILE` / `-d JSON`) and its validation (api.md §3).

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use super::RegisterSource;
use crate::json_kind::type_name;

/// A registration object that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub web_username: String,
    /// `None` when the input leaves it out: it is then asked for on standard input.
    pub web_password: Option<String>,
    pub host_name: String,
    pub host_group_name: String,
    pub manager_ip: String,
    pub manager_port: u16,
    pub management: bool,
    pub agent_port: Option<u16>,
    /// Said on stderr, whatever the outcome (a register file others can read holds a password).
    pub warnings: Vec<String>,
}

/// aops-manager stores `host_name` and `host_group_name` in 20-character columns.
pub const MAX_NAME_CHARS: usize = 20;

/// Why the input was refused; one line, naming the file or the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    Unreadable { file: String, reason: String },
    NotJson { from: String, reason: String },
    NotObject { from: String, got: &'static str },
    Invalid(Vec<String>),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Unreadable { file, reason } => write!(f, "cannot read {file}: {reason}"),
            InputError::NotJson { from, reason } => write!(f, "{from} is not JSON: {reason}"),
            InputError::NotObject { from, got } => {
                write!(f, "{from} must be a JSON object, not {got}")
            }
            InputError::Invalid(problems) => {
                write!(f, "invalid registration: {}", problems.join("; "))
            }
        }
    }
}

/// Reads and validates the object from where the command line says.
pub fn load(source: &RegisterSource) -> Result<Input, InputError> {
    let (from, text) = match source {
        RegisterSource::File(path) => (path.display().to_string(), read_file(path)?),
        RegisterSource::Inline(text) => ("the -d argument".to_string(), text.clone()),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| InputError::NotJson {
        from: from.clone(),
        reason: e.to_string(),
    })?;
    match value {
        Value::Object(map) => {
            let mut input = validate(&map)?;
            if let RegisterSource::File(path) = source {
                input.warnings.extend(exposure(path, &map));
            }
            Ok(input)
        }
        other => Err(InputError::NotObject {
            from,
            got: type_name(&other),
        }),
    }
}

/// A register file holding the password should be readable by its owner alone.
fn exposure(path: &Path, map: &Map<String, Value>) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    if !map.contains_key("web_password") {
        return None;
    }
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then(|| {
        format!(
            "warning: {} holds web_password and can be read by group or others (mode {mode:04o}); \
             restrict it with `chmod 600 {}`, or leave web_password out to be asked for it",
            path.display(),
            path.display()
        )
    })
}

fn read_file(path: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|e| InputError::Unreadable {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

const STRING: &str = "a non-empty string";
const PORT: &str = "a port number from 1 to 65535 (string or number)";

/// Every problem is collected, so one run tells the operator everything to fix.
pub fn validate(map: &Map<String, Value>) -> Result<Input, InputError> {
    let mut problems = Vec::new();
    let mut string = |key: &str| -> String {
        match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                problems.push(format!("\"{key}\" is empty, expected {STRING}"));
                String::new()
            }
            Some(other) => {
                problems.push(format!(
                    "\"{key}\" is {}, expected {STRING}",
                    type_name(other)
                ));
                String::new()
            }
            None => {
                problems.push(format!("\"{key}\" is missing, expected {STRING}"));
                String::new()
            }
        }
    };
    let web_username = string("web_username");
    let web_password = map
        .contains_key("web_password")
        .then(|| string("web_password"));
    let host_name = string("host_name");
    let host_group_name = string("host_group_name");
    let manager_ip = string("manager_ip");
    for (key, value) in [
        ("host_name", &host_name),
        ("host_group_name", &host_group_name),
    ] {
        let n = value.chars().count();
        if n > MAX_NAME_CHARS {
            problems.push(format!(
                "\"{key}\" is {n} characters long, expected at most {MAX_NAME_CHARS} \
                 (the manager stores no more)"
            ));
        }
    }

    let manager_port = match map.get("manager_port") {
        None => {
            problems.push(format!("\"manager_port\" is missing, expected {PORT}"));
            None
        }
        Some(v) => port(v)
            .map_err(|why| problems.push(format!("\"manager_port\" {why}")))
            .ok(),
    };
    let management = match map.get("management") {
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            problems.push(format!(
                "\"management\" is {}, expected a boolean (true or false)",
                type_name(other)
            ));
            None
        }
        None => {
            problems.push("\"management\" is missing, expected a boolean (true or false)".into());
            None
        }
    };
    let agent_port = match map.get("agent_port") {
        None => None,
        Some(v) => port(v)
            .map_err(|why| problems.push(format!("\"agent_port\" {why}")))
            .ok(),
    };
    if !manager_ip.is_empty() && !plausible_host(&manager_ip) {
        problems.push(format!(
            "\"manager_ip\" is {manager_ip:?}, expected an IP address or host name"
        ));
    }

    match (manager_port, management) {
        (Some(manager_port), Some(management)) if problems.is_empty() => Ok(Input {
            web_username,
            web_password,
            host_name,
            host_group_name,
            manager_ip,
            manager_port,
            management,
            agent_port,
            warnings: Vec::new(),
        }),
        _ => Err(InputError::Invalid(problems)),
    }
}

/// A port as a JSON string (`"12000"`) or number (`12000`); the `Err` completes "KEY ...".
fn port(v: &Value) -> Result<u16, String> {
    let n = match v {
        Value::String(s) => crate::config::parse_port(s).map(u64::from),
        Value::Number(n) => n.as_u64().filter(|n| (1..=65535).contains(n)),
        other => return Err(format!("is {}, expected {PORT}", type_name(other))),
    };
    match n {
        Some(n) => Ok(n as u16),
        None => Err(format!("is {v}, expected {PORT}")),
    }
}

/// What can sit between `http://` and `:port` without changing the URL's meaning.
fn plausible_host(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
        || s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Map<String, Value> {
        match json!({"web_username": "admin", "web_password": "changeme", "host_name": "host1",
                     "host_group_name": "group1", "manager_ip": "192.168.1.23",
                     "management": false, "manager_port": "11111", "agent_port": "12000"})
        {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn problems(map: &Map<String, Value>) -> String {
        validate(map).unwrap_err().to_string()
    }

    #[test]
    fn the_documented_example_is_valid() {
        let i = validate(&good()).unwrap();
        assert_eq!(i.manager_port, 11111);
        assert_eq!(i.agent_port, Some(12000));
        assert!(!i.management);
        let mut m = good();
        m.remove("agent_port");
        m.insert("manager_port".into(), json!(8080));
        m.insert("manager_ip".into(), json!("fe80::1"));
        let i = validate(&m).unwrap();
        assert_eq!((i.manager_port, i.agent_port), (8080, None));
    }

    #[test]
    fn each_required_key_missing_is_named() {
        for key in [
            "web_username",
            "host_name",
            "host_group_name",
            "manager_ip",
            "manager_port",
            "management",
        ] {
            let mut m = good();
            m.remove(key);
            let e = problems(&m);
            assert!(
                e.contains(&format!("\"{key}\" is missing, expected")),
                "{e}"
            );
        }
    }

    #[test]
    fn wrong_types_and_ranges_are_named() {
        let cases = [
            (
                "web_username",
                json!(5),
                "\"web_username\" is a number, expected a non-empty string",
            ),
            (
                "host_name",
                json!(""),
                "\"host_name\" is empty, expected a non-empty string",
            ),
            (
                "management",
                json!("false"),
                "\"management\" is a string, expected a boolean",
            ),
            (
                "manager_port",
                json!("0"),
                "\"manager_port\" is \"0\", expected a port number",
            ),
            (
                "manager_port",
                json!(65536),
                "\"manager_port\" is 65536, expected a port number",
            ),
            (
                "agent_port",
                json!(-1),
                "\"agent_port\" is -1, expected a port number",
            ),
            (
                "agent_port",
                json!(80.5),
                "\"agent_port\" is 80.5, expected a port number",
            ),
            (
                "agent_port",
                json!("abc"),
                "\"agent_port\" is \"abc\", expected a port number",
            ),
            (
                "agent_port",
                json!(true),
                "\"agent_port\" is a boolean, expected a port number",
            ),
            (
                "manager_ip",
                json!("a b/c"),
                "\"manager_ip\" is \"a b/c\", expected an IP address",
            ),
        ];
        for (key, value, want) in cases {
            let mut m = good();
            m.insert(key.into(), value);
            let e = problems(&m);
            assert!(e.contains(want), "{key}: {e}");
        }
    }

    #[test]
    fn password_may_be_left_out_but_not_empty() {
        let mut m = good();
        assert_eq!(
            validate(&m).unwrap().web_password.as_deref(),
            Some("changeme")
        );
        m.remove("web_password");
        assert_eq!(validate(&m).unwrap().web_password, None);
        m.insert("web_password".into(), json!(""));
        assert!(problems(&m).contains("\"web_password\" is empty"));
    }

    #[test]
    fn names_fit_the_managers_columns() {
        let mut m = good();
        m.insert("host_name".into(), json!("a".repeat(20)));
        m.insert("host_group_name".into(), json!("\u{e9}".repeat(20)));
        assert!(validate(&m).is_ok(), "20 characters, not bytes");
        m.insert("host_name".into(), json!("a".repeat(21)));
        m.insert("host_group_name".into(), json!("g".repeat(30)));
        assert_eq!(
            problems(&m),
            "invalid registration: \"host_name\" is 21 characters long, expected at most 20 \
             (the manager stores no more); \"host_group_name\" is 30 characters long, expected \
             at most 20 (the manager stores no more)"
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let mut m = good();
        m.remove("host_name");
        m.insert("manager_port".into(), json!(null));
        assert_eq!(
            problems(&m),
            "invalid registration: \"host_name\" is missing, expected a non-empty string; \
             \"manager_port\" is null, expected a port number from 1 to 65535 (string or number)"
        );
    }

    #[test]
    fn inline_json_that_is_not_an_object() {
        let e = load(&RegisterSource::Inline("{nope".into())).unwrap_err();
        assert!(
            e.to_string().starts_with("the -d argument is not JSON: "),
            "{e}"
        );
        let e = load(&RegisterSource::Inline("[1]".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the -d argument must be a JSON object, not an array"
        );
        let e = load(&RegisterSource::File("/nonexistent/register.json".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read /nonexistent/register.json: No such file or directory (os error 2)"
        );
    }
}
