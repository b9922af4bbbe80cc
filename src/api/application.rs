//! application/info: which of the known applications run on this host.

use super::{ApiError, Ctx, Outcome};

pub fn info(_ctx: &Ctx) -> Outcome {
    Err(ApiError::Pending("application detection"))
}
