//! The token file: present, a token in it, readable by root alone. Its content is never shown.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Facts, Line, Status};
use crate::config::DEFAULT_PATH;

/// Far more than any token; a bigger file is not a token file.
const MAX_BYTES: u64 = 64 * 1024;

fn register_command(config: &Path) -> String {
    let c = if config == Path::new(DEFAULT_PATH) {
        String::new()
    } else {
        format!("-c {} ", config.display())
    };
    format!(
        "aops_agent {c}register -f register.json (a filled-in copy of \
         /usr/share/doc/aops-agent/register.json)"
    )
}

pub fn line(f: &Facts) -> Line {
    let path = &f.conf.config.token_file;
    let shown = path.display();
    let register = register_command(&f.conf.path);
    let fail = |summary: String, fix: String| Line::new("token", Status::Fail, summary).fix(fix);
    // Decide on the file actually opened, not on the name.
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                format!(
                    "{shown} does not exist: this host is not registered, so every request is \
                     refused with code 1201"
                ),
                register,
            )
        }
        Err(e) => return fail(format!("cannot open {shown}: {e}"), register),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return fail(format!("cannot examine {shown}: {e}"), register),
    };
    if !meta.is_file() {
        return fail(format!("{shown} is not a regular file"), register);
    }
    let mut text = String::new();
    if let Err(e) = (&mut file).take(MAX_BYTES).read_to_string(&mut text) {
        return fail(format!("cannot read {shown}: {e}"), register);
    }
    if let Err(why) = crate::token::parse_token(&text) {
        return fail(
            format!(
                "{shown} holds no usable token ({why}): every request is refused with code 1201"
            ),
            register,
        );
    }
    let mode = meta.mode() & 0o7777;
    let open_to_others = mode & 0o077 != 0;
    let not_root = meta.uid() != 0;
    if open_to_others || not_root {
        let mut what = Vec::new();
        let mut fix = Vec::new();
        if not_root {
            what.push(format!("owned by uid {} (not root)", meta.uid()));
            fix.push(format!("chown root:root {shown}"));
        }
        if open_to_others {
            what.push(format!("open to others (mode {mode:04o})"));
            fix.push(format!("chmod 0600 {shown}"));
        }
        return fail(
            format!("{shown} holds the token, but is {}", what.join(" and ")),
            fix.join(" && "),
        );
    }
    Line::new(
        "token",
        Status::Ok,
        format!("{shown}: registered (mode {mode:04o}, owner root)"),
    )
}
