//! The manager password, when the registration object leaves it out: read from standard input,
//! without echo when that is a terminal, so it is in neither a file nor the shell's history.

use std::io::{self, BufRead, Write};

/// Reads one line from standard input; on a terminal, prompts on stderr and turns echo off
/// while the line is typed.
pub fn read(user: &str) -> Result<String, String> {
    let stdin = io::stdin();
    // SAFETY: isatty only inspects the descriptor.
    let tty = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
    let line = if tty {
        eprint!("Password for {user:?} on the manager: ");
        let _ = io::stderr().flush();
        let echo = EchoOff::new();
        let r = read_line(&mut stdin.lock());
        drop(echo);
        eprintln!();
        r
    } else {
        read_line(&mut stdin.lock())
    }
    .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    match line {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(
            "web_password is not in the input and standard input gave none: type it when \
             asked, pipe it in, or add web_password to the input"
                .into(),
        ),
    }
}

/// One line without its line ending; `None` at end of input.
fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(Some(trimmed.to_string()))
}

/// Terminal echo switched off for as long as this lives.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut old: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut old) } != 0 {
            return EchoOff(None);
        }
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a termios obtained from tcgetattr, with flags changed.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) } != 0 {
            return EchoOff(None);
        }
        EchoOff(Some(old))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(old) = self.0.take() {
            // SAFETY: restores the settings read in `new`.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &old) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_without_its_ending() {
        let mut r = io::Cursor::new(b"s3cret\r\nnext\n".to_vec());
        assert_eq!(read_line(&mut r).unwrap().as_deref(), Some("s3cret"));
        assert_eq!(read_line(&mut r).unwrap().as_deref(), Some("next"));
        assert_eq!(read_line(&mut r).unwrap(), None);
        let mut r = io::Cursor::new(b"no newline".to_vec());
        assert_eq!(read_line(&mut r).unwrap().as_deref(), Some("no newline"));
    }
}
