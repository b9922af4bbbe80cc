//! file/collect: configuration files read for the manager (bare JSON reply, no envelope).

use std::path::Path;

use serde_json::{json, Value};

use super::{ApiError, Ctx, Outcome, Reply};
use crate::files::credentials::Policy;
use crate::files::{read_text_file, FileAttr, FileError, Names};

pub fn collect(ctx: &Ctx, paths: &[String]) -> Outcome {
    if paths.iter().any(String::is_empty) {
        return Err(ApiError::Parameter("a file path is an empty string".into()));
    }
    // Owner and group names come from the account files under the same root as the host
    // facts; read once per request, and only when some file is answered.
    let mut names: Option<Names> = None;
    let mut success = Vec::new();
    let mut fail = Vec::new();
    let mut infos = Vec::new();
    let policy = Policy::new(&ctx.config.token_file, &ctx.config.file_collect_deny);
    for path in paths {
        match read_text_file(Path::new(path), &policy) {
            Ok(file) => {
                let names = names.get_or_insert_with(|| Names::load(&ctx.sysroot));
                let attr = FileAttr::of(&file.meta, names);
                infos.push(json!({
                    "path": path,
                    "content": file.content,
                    "file_attr": attr.to_json(),
                }));
                success.push(Value::String(path.clone()));
            }
            Err(why @ FileError::Credential(_)) => {
                crate::warning!("file/collect: {path:?} fails: {why}");
                fail.push(Value::String(path.clone()));
            }
            Err(why) => {
                crate::info!("file/collect: {path:?} fails: {why}");
                fail.push(Value::String(path.clone()));
            }
        }
    }
    Ok(Reply::Raw(json!({
        "success_files": success,
        "fail_files": fail,
        "infos": infos,
    })))
}
