//! Helpers the crate's unit tests share, in one place: the recorded vendor
//! payloads and a real local HTTP server that plays a vendor.

pub(crate) mod payloads;
pub(crate) mod server;
