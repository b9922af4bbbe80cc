//! `file_attr` of file/collect: mode as four octal digits, owner and group names.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use serde_json::{json, Value};

use super::names::Names;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAttr {
    pub mode: String,
    pub owner: String,
    pub group: String,
}

impl FileAttr {
    pub fn of(meta: &Metadata, names: &Names) -> FileAttr {
        FileAttr {
            mode: mode_string(meta.mode()),
            owner: names.user(meta.uid()),
            group: names.group(meta.gid()),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "mode": self.mode, "owner": self.owner, "group": self.group })
    }
}

/// Permission bits including setuid, setgid and sticky: `0644`, `4644`, `1600`.
pub fn mode_string(st_mode: u32) -> String {
    format!("{:04o}", st_mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_octal_digits_with_special_bits() {
        assert_eq!(mode_string(0o100644), "0644");
        assert_eq!(mode_string(0o104644), "4644");
        assert_eq!(mode_string(0o102640), "2640");
        assert_eq!(mode_string(0o101600), "1600");
        assert_eq!(mode_string(0o100000), "0000");
    }
}
