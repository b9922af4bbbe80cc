//! host/info: cpu, disk, memory and os facts.

use super::{ApiError, Ctx, Outcome};

/// The fact types, in the order they are reported when all are asked for.
pub const TYPES: &[&str] = &["cpu", "disk", "memory", "os"];

pub fn info(_ctx: &Ctx, types: &[String]) -> Outcome {
    if let Some(bad) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(ApiError::Parameter(format!(
            "unknown info type {bad:?} (known: {})",
            TYPES.join(", ")
        )));
    }
    Err(ApiError::Pending("host facts"))
}
