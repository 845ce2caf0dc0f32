//! Helpers the crate's unit tests share, in one place: the recorded vendor
//! payloads, a real local HTTP server that plays a vendor, and a fake
//! Lever built on it.

pub(crate) mod lever;
pub(crate) mod payloads;
pub(crate) mod server;
