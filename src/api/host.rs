//! host/info: cpu, disk, memory and os facts.

use serde_json::Value;

use super::{ApiError, Ctx, Outcome, Reply};
use crate::facts::{self, TYPES};

pub fn info(ctx: &Ctx, types: &[String]) -> Outcome {
    if let Some(bad) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(ApiError::Parameter(format!(
            "unknown info type {bad:?} (known: {})",
            TYPES.join(", ")
        )));
    }
    let types: Vec<&str> = types.iter().map(String::as_str).collect();
    Ok(Reply::Success(Some(Value::Object(facts::report(
        &ctx.sysroot,
        &types,
    )))))
}
