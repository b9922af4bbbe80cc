//! Reading configuration files for the manager: bounded, never blocking on special files, with
//! the attributes the manager shows (mode, owner, group).

pub mod attrs;
pub mod credentials;
pub mod names;
pub mod read;

pub use attrs::FileAttr;
pub use names::Names;
pub use read::{read_text_file, FileError, TextFile, MAX_FILE_BYTES};
