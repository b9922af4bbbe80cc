//! HTTP side of the agent: routing, request-shape checks, and the reply shapes of the contract.

pub mod admission;
pub mod audit;
pub mod envelope;
mod rejections;
pub mod router;
pub mod shape;

/// The largest request body any endpoint accepts; 1 MiB is far above what the manager sends.
pub const MAX_BODY: usize = 1024 * 1024;
/// The largest a connection's read buffer may grow, so also the largest request head (larger
/// gets 431); the manager's are well under 1 KiB. A body streams through it in pieces this size.
pub const MAX_CONNECTION_BUFFER: usize = 16 * 1024;
