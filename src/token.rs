//! The token store: the token aops-manager issued at registration, as saved in the token file.
//!
//! The file is re-examined (one `stat`) on every check, so re-registering a host takes effect at
//! once without restarting the agent.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Valid,
    Invalid,
    /// No usable token file: the host has not been registered (or the file is broken).
    NotRegistered,
}

/// Identity of one version of the token file; any rewrite (rename or in place) changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        }
    }
}

#[derive(Default)]
struct State {
    stamp: Option<Stamp>,
    token: Option<Vec<u8>>,
}

pub struct TokenStore {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
pub enum TokenError {
    Io(io::Error),
    Malformed(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Io(e) => e.fmt(f),
            TokenError::Malformed(why) => f.write_str(why),
        }
    }
}

impl TokenStore {
    pub fn new(path: &Path) -> TokenStore {
        TokenStore {
            path: path.to_path_buf(),
            state: Mutex::new(State::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file when it changed; logs why a present file is unusable.
    fn refresh(&self, state: &mut State) {
        let stamp = fs::metadata(&self.path).ok().map(|m| Stamp::of(&m));
        if stamp == state.stamp && (stamp.is_some() || state.token.is_none()) {
            return;
        }
        state.stamp = stamp;
        state.token = match stamp {
            None => None,
            Some(_) => match read_token(&self.path) {
                Ok(t) => {
                    crate::info!("loaded the access token from {}", self.path.display());
                    Some(t.into_bytes())
                }
                Err(e) => {
                    crate::error!("token file {} is unusable: {}", self.path.display(), e);
                    None
                }
            },
        };
    }

    pub fn is_registered(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(&mut state);
        state.token.is_some()
    }

    pub fn check(&self, presented: &[u8]) -> Check {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(&mut state);
        match &state.token {
            None => Check::NotRegistered,
            Some(t) if constant_time_eq(t, presented) => Check::Valid,
            Some(_) => Check::Invalid,
        }
    }
}

/// Compares without an early exit, so response time does not tell how much of a guess matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

pub fn parse_token(text: &str) -> Result<String, TokenError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| TokenError::Malformed(format!("not JSON: {e}")))?;
    match v.get("access_token") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(TokenError::Malformed(
            "\"access_token\" is not a non-empty string".into(),
        )),
        None => Err(TokenError::Malformed("no \"access_token\" key".into())),
    }
}

pub fn read_token(path: &Path) -> Result<String, TokenError> {
    let text = fs::read_to_string(path).map_err(TokenError::Io)?;
    parse_token(&text)
}

/// Saves the token as `{"access_token": "..."}`, mode 0600, atomically: a temporary file in the
/// same directory, fsync, rename, fsync of the directory. A reader sees the old file or the new
/// one, never a partial one; a failure leaves the old file as it was.
pub fn save(path: &Path, token: &str) -> io::Result<()> {
    let body = serde_json::json!({ "access_token": token }).to_string();
    crate::atomic_file::replace(path, body.as_bytes(), 0o600, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aops-token-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn parse_rejects_what_is_not_a_token() {
        assert_eq!(parse_token(r#"{"access_token": "t1"}"#).unwrap(), "t1");
        assert!(parse_token(r#"{"access_token": ""}"#).is_err());
        assert!(parse_token(r#"{"access_token": 5}"#).is_err());
        assert!(parse_token(r#"{}"#).is_err());
        assert!(parse_token("garbage").is_err());
    }

    #[test]
    fn store_follows_the_file() {
        let d = tempdir("follow");
        let path = d.join("sub/agent_token.json");
        let store = TokenStore::new(&path);
        assert_eq!(store.check(b"t1"), Check::NotRegistered);
        save(&path, "t1").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        assert_eq!(store.check(b"t1"), Check::Valid);
        assert_eq!(store.check(b"t2"), Check::Invalid);
        save(&path, "t2").unwrap();
        assert_eq!(store.check(b"t2"), Check::Valid);
        assert_eq!(store.check(b"t1"), Check::Invalid);
        fs::write(&path, "{broken").unwrap();
        assert_eq!(store.check(b"t2"), Check::NotRegistered);
        fs::remove_file(&path).unwrap();
        assert_eq!(store.check(b"t2"), Check::NotRegistered);
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            0,
            "no temporary left"
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
