//! What file/collect never hands out: credential files and private keys (api.md §2).
//!
//! aops-manager issues one token per web user and sends it to every host of that user, so the
//! token must not read password hashes, host keys or the token file itself anywhere in the fleet.
//! The rules are decided on the file that was actually opened: its device and inode are compared
//! with those of the credential files (so a symlink or hard link to one is that file), and its
//! resolved path (`/proc/self/fd`) is matched against the globs. The content is refused when it
//! holds a PEM private-key block, wherever the file is.

use std::fmt;
use std::fs::{self, File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};

/// Credential files of every Linux host: password and group hashes, their backups, old passwords.
pub const BUILT_IN_FILES: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/security/opasswd",
];
/// SSH host private keys (`ssh_host_rsa_key`, `ssh_host_ed25519_key`, ...; not the `.pub` files).
pub const BUILT_IN_GLOBS: &[&str] = &["/etc/ssh/ssh_host_*_key"];

/// An absolute path, where `*` stands for any run of characters within one path component.
/// A pattern also covers everything below what it matches (`/srv/secrets` covers
/// `/srv/secrets/db.conf`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern(String);

impl PathPattern {
    pub fn parse(s: &str) -> Result<PathPattern, String> {
        if !s.starts_with('/') {
            return Err(format!("{s:?} is not an absolute path"));
        }
        // Stored in normal form so `/etc//x/` and `/etc/x` are the same rule.
        Ok(PathPattern(normalize(Path::new(s)).display().to_string()))
    }

    /// Comma-separated entries, at least one, none empty.
    pub fn parse_list(s: &str) -> Result<Vec<PathPattern>, String> {
        s.split(',')
            .map(|e| match e.trim() {
                "" => Err("an entry is empty (entries are separated by single commas)".into()),
                e => PathPattern::parse(e),
            })
            .collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_glob(&self) -> bool {
        self.0.contains('*')
    }

    /// Whether `path` (in normal form) is what the pattern names, or lies below it.
    pub fn covers(&self, path: &str) -> bool {
        if glob_match(self.0.as_bytes(), path.as_bytes()) {
            return true;
        }
        // Every ancestor: `/a/b/c` → `/a/b`, `/a`.
        let mut end = path.len();
        while let Some(slash) = path[..end].rfind('/') {
            if slash == 0 {
                break;
            }
            if glob_match(self.0.as_bytes(), &path.as_bytes()[..slash]) {
                return true;
            }
            end = slash;
        }
        false
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `*` matches any run of bytes within one component; components match one to one.
fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let mut pats = pat.split(|&b| b == b'/');
    let mut texts = text.split(|&b| b == b'/');
    loop {
        match (pats.next(), texts.next()) {
            (None, None) => return true,
            (Some(p), Some(t)) if component_match(p, t) => {}
            _ => return false,
        }
    }
}

/// The classic wildcard match: backtrack to the last `*` on a mismatch.
fn component_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && pat[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pat.len() && pat[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// `.` and `..` resolved lexically, repeated slashes dropped (no file system access).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Which rule refused a file; the journal says this, never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    BuiltIn(String),
    TokenFile(PathBuf),
    Denied(String),
    PrivateKey(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BuiltIn(rule) => write!(f, "a credential file (built-in rule {rule})"),
            Refusal::TokenFile(p) => write!(f, "the agent's own token file ({})", p.display()),
            Refusal::Denied(rule) => write!(f, "listed in [file_collect] deny ({rule})"),
            Refusal::PrivateKey(label) => {
                write!(f, "holds a private key (a PEM \"BEGIN {label}\" block)")
            }
        }
    }
}

/// A file whose identity is compared with what was opened.
#[derive(Debug)]
struct Known {
    path: PathBuf,
    /// Device and inode, where the file exists now.
    id: Option<(u64, u64)>,
    rule: fn(&Path) -> Refusal,
}

/// A glob rule and the refusal it gives.
type GlobRule = (PathPattern, fn(&PathPattern) -> Refusal);

/// The rules in force for one request.
#[derive(Debug)]
pub struct Policy {
    known: Vec<Known>,
    globs: Vec<GlobRule>,
}

impl Policy {
    /// The built-in rules, the token file and the `deny` entries; stats each fixed file once.
    pub fn new(token_file: &Path, deny: &[PathPattern]) -> Policy {
        let mut known = Vec::new();
        let mut globs: Vec<GlobRule> = Vec::new();
        let mut add = |path: PathBuf, rule: fn(&Path) -> Refusal| {
            let id = fs::metadata(&path).ok().map(|m| (m.dev(), m.ino()));
            known.push(Known { path, id, rule });
        };
        for f in BUILT_IN_FILES {
            add(PathBuf::from(f), |p| {
                Refusal::BuiltIn(p.display().to_string())
            });
        }
        add(normalize(token_file), |p| {
            Refusal::TokenFile(p.to_path_buf())
        });
        for d in deny.iter().filter(|d| !d.is_glob()) {
            add(PathBuf::from(d.as_str()), |p| {
                Refusal::Denied(p.display().to_string())
            });
        }
        for g in BUILT_IN_GLOBS {
            let pattern = PathPattern::parse(g).expect("built-in globs are absolute");
            globs.push((pattern, |p| Refusal::BuiltIn(p.to_string())));
        }
        for d in deny {
            globs.push((d.clone(), |p| Refusal::Denied(p.to_string())));
        }
        Policy { known, globs }
    }

    /// The rules that need no file system access: the asked path, normalised, by name.
    pub fn check_name(&self, asked: &Path) -> Result<(), Refusal> {
        self.check_path(&normalize(asked))
    }

    fn check_path(&self, path: &Path) -> Result<(), Refusal> {
        if let Some(k) = self.known.iter().find(|k| k.path == path) {
            return Err((k.rule)(&k.path));
        }
        let text = path.to_string_lossy();
        match self.globs.iter().find(|(g, _)| g.covers(&text)) {
            Some((g, rule)) => Err(rule(g)),
            None => Ok(()),
        }
    }

    /// The rules applied to what was opened: identity against the fixed files, the resolved
    /// path against every rule.
    pub fn check_opened(&self, asked: &Path, file: &File, meta: &Metadata) -> Result<(), Refusal> {
        let id = (meta.dev(), meta.ino());
        if let Some(k) = self.known.iter().find(|k| k.id == Some(id)) {
            return Err((k.rule)(&k.path));
        }
        let resolved = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .ok()
            .filter(|p| p.is_absolute())
            .or_else(|| fs::canonicalize(asked).ok());
        match resolved {
            Some(p) => self.check_path(&p),
            // Without /proc or the path, only the identity checks above could run; the globs
            // are then matched on the name asked for.
            None => self.check_name(asked),
        }
    }
}

/// The label of the first PEM private-key block in `bytes` (`RSA PRIVATE KEY`, `PRIVATE KEY`,
/// `ENCRYPTED PRIVATE KEY`, `OPENSSH PRIVATE KEY`, ...), wherever it starts; public keys and
/// certificates have other labels and pass.
pub fn private_key_label(bytes: &[u8]) -> Option<String> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut at = 0;
    while let Some(off) = find(&bytes[at..], BEGIN) {
        let start = at + off + BEGIN.len();
        // A label is short and on one line, and closes with five dashes.
        let rest = &bytes[start..bytes.len().min(start + 80)];
        let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
        if let Some(end) = find(line, b"-----") {
            let label = String::from_utf8_lossy(&line[..end]);
            if label.contains("PRIVATE KEY") {
                return Some(label.into_owned());
            }
        }
        at = start;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap()
    }

    #[test]
    fn globs_stay_within_one_component() {
        let p = pat("/etc/ssh/ssh_host_*_key");
        for yes in [
            "/etc/ssh/ssh_host_rsa_key",
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host__key",
        ] {
            assert!(p.covers(yes), "{yes}");
        }
        for no in [
            "/etc/ssh/ssh_host_rsa_key.pub",
            "/etc/ssh/sshd_config",
            "/etc/ssh/ssh_host_a/b_key",
            "/etc/ssh",
        ] {
            assert!(!p.covers(no), "{no}");
        }
        assert!(pat("/home/*/.netrc").covers("/home/alice/.netrc"));
        assert!(!pat("/home/*/.netrc").covers("/home/a/b/.netrc"));
        assert!(pat("/srv/*").covers("/srv/a/b/c"), "below a match");
        assert!(pat("/srv/secrets").covers("/srv/secrets/db.conf"));
        assert!(!pat("/srv/secrets").covers("/srv/secrets2/db.conf"));
        assert!(pat("/a/**/c").covers("/a/b/c"));
        assert!(pat("/*").covers("/etc/hosts"));
        assert!(pat("/etc/*.key").covers("/etc/a.b.key"));
    }

    #[test]
    fn patterns_are_absolute_and_normalised() {
        assert_eq!(pat("/etc//ssh/./x/").as_str(), "/etc/ssh/x");
        assert_eq!(pat("/etc/a/../b").as_str(), "/etc/b");
        assert!(PathPattern::parse("etc/x").is_err());
        assert!(PathPattern::parse_list("/a,,/b").is_err());
        assert!(PathPattern::parse_list("/a, ").is_err());
        assert_eq!(PathPattern::parse_list(" /a , /b/* ").unwrap().len(), 2);
    }

    #[test]
    fn names_are_checked_after_normalising() {
        let p = Policy::new(
            Path::new("/etc/aops/agent_token.json"),
            &[pat("/srv/*.pem")],
        );
        assert_eq!(
            p.check_name(Path::new("/etc/../etc//shadow")),
            Err(Refusal::BuiltIn("/etc/shadow".into()))
        );
        assert_eq!(
            p.check_name(Path::new("/etc/aops/./agent_token.json")),
            Err(Refusal::TokenFile("/etc/aops/agent_token.json".into()))
        );
        assert_eq!(
            p.check_name(Path::new("/etc/ssh/ssh_host_ecdsa_key")),
            Err(Refusal::BuiltIn("/etc/ssh/ssh_host_*_key".into()))
        );
        assert_eq!(
            p.check_name(Path::new("/srv/tls.pem")),
            Err(Refusal::Denied("/srv/*.pem".into()))
        );
        assert_eq!(p.check_name(Path::new("/etc/ssh/sshd_config")), Ok(()));
        assert_eq!(p.check_name(Path::new("/etc/shadow.d")), Ok(()));
    }

    #[test]
    fn what_was_opened_decides_hard_links_included() {
        let d = std::env::temp_dir().join(format!("aops-cred-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let token = d.join("agent_token.json");
        fs::write(&token, "{}").unwrap();
        let hard = d.join("copy.json");
        fs::hard_link(&token, &hard).unwrap();
        let other = d.join("other.json");
        fs::write(&other, "{}").unwrap();
        let p = Policy::new(&token, &[]);
        let opened = |path: &Path| {
            let f = File::open(path).unwrap();
            let m = f.metadata().unwrap();
            p.check_opened(path, &f, &m)
        };
        assert_eq!(opened(&hard), Err(Refusal::TokenFile(token.clone())));
        assert_eq!(opened(&other), Ok(()));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn private_key_blocks_anywhere_in_the_bytes() {
        for label in [
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "DSA PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
        ] {
            let pem = format!("-----BEGIN {label}-----\nMIIB\n-----END {label}-----\n");
            assert_eq!(
                private_key_label(pem.as_bytes()).as_deref(),
                Some(label),
                "{label}"
            );
            let embedded =
                format!("# app config\nkey = 1\ncert = -----BEGIN CERTIFICATE-----\n{pem}");
            assert_eq!(
                private_key_label(embedded.as_bytes()).as_deref(),
                Some(label)
            );
        }
        for fine in [
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
            "-----BEGIN RSA PUBLIC KEY-----\n",
            "ssh-ed25519 AAAAC3Nz user@host\n",
            "-----BEGIN \nPRIVATE KEY-----",
            "",
            "-----BEGIN ",
        ] {
            assert_eq!(private_key_label(fine.as_bytes()), None, "{fine:?}");
        }
        assert!(private_key_label(b"\xff\xfe-----BEGIN PRIVATE KEY-----").is_some());
    }

    #[test]
    fn refusals_name_the_rule() {
        assert_eq!(
            Refusal::BuiltIn("/etc/shadow".into()).to_string(),
            "a credential file (built-in rule /etc/shadow)"
        );
        assert_eq!(
            Refusal::PrivateKey("EC PRIVATE KEY".into()).to_string(),
            "holds a private key (a PEM \"BEGIN EC PRIVATE KEY\" block)"
        );
    }
}
