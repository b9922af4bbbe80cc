//! User and group names from `<root>/etc/passwd` and `<root>/etc/group`.
//!
//! The agent is a static musl binary: there is no NSS, so `getpwuid` would only ever see these
//! two files anyway. Reading them directly keeps that explicit and lets tests use a fixture root.
//! An id with no entry is shown as its number.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use super::read::read_bounded;

/// Account databases larger than this are read only up to it (they are never that large).
const MAX_DB_BYTES: u64 = 16 << 20;

/// Id → name maps for users and groups; the first entry for an id wins, as with `getpwuid`.
#[derive(Debug, Default)]
pub struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    /// Loads both databases under `root`; a missing or unreadable file gives no names.
    pub fn load(root: &Path) -> Names {
        Names {
            users: load_db(&root.join("etc/passwd")),
            groups: load_db(&root.join("etc/group")),
        }
    }

    pub fn from_text(passwd: &str, group: &str) -> Names {
        Names {
            users: parse_db(passwd),
            groups: parse_db(group),
        }
    }

    pub fn user(&self, uid: u32) -> String {
        self.users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }

    pub fn group(&self, gid: u32) -> String {
        self.groups
            .get(&gid)
            .cloned()
            .unwrap_or_else(|| gid.to_string())
    }
}

fn load_db(path: &Path) -> HashMap<u32, String> {
    let bytes = match File::open(path) {
        Ok(f) => match read_bounded(f, MAX_DB_BYTES) {
            Ok(b) => b,
            Err(e) => {
                crate::warning!("{}: {e}; ids are shown as numbers", path.display());
                return HashMap::new();
            }
        },
        Err(e) => {
            crate::debug!("{}: {e}; ids are shown as numbers", path.display());
            return HashMap::new();
        }
    };
    parse_db(&String::from_utf8_lossy(&bytes))
}

/// `name:password:id:...` lines (passwd and group share the first three fields).
fn parse_db(text: &str) -> HashMap<u32, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        // NIS markers ("+", "-name") and blank names are not accounts.
        if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
            continue;
        }
        if let Ok(id) = id.trim().parse::<u32>() {
            map.entry(id).or_insert_with(|| name.to_string());
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numeric_fallback() {
        let n = Names::from_text(
            "root:x:0:0:root:/root:/bin/bash\n# comment\n+::::::\nbad line\nalice:x:1000:1000::/home/alice:/bin/sh\ntoor:x:0:0::/:/bin/sh\n",
            "root:x:0:\nadm:x:4:syslog\nwheel:x:10:alice\n",
        );
        assert_eq!(n.user(0), "root", "first entry for an id wins");
        assert_eq!(n.user(1000), "alice");
        assert_eq!(n.user(4242), "4242");
        assert_eq!(n.group(4), "adm");
        assert_eq!(n.group(1000), "1000");
    }

    #[test]
    fn missing_databases_give_numbers() {
        let n = Names::load(Path::new("/nonexistent-root-for-names"));
        assert_eq!(n.user(0), "0");
        assert_eq!(n.group(0), "0");
    }
}
