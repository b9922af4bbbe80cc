//! file/collect: configuration files read for the manager (bare JSON reply, no envelope).

use super::{ApiError, Ctx, Outcome};

pub fn collect(_ctx: &Ctx, paths: &[String]) -> Outcome {
    if paths.iter().any(String::is_empty) {
        return Err(ApiError::Parameter("a file path is an empty string".into()));
    }
    Err(ApiError::Pending("file collection"))
}
