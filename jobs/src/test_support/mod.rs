//! Helpers the crate's unit tests share, in one place: the recorded vendor
//! payloads, a real local HTTP server that plays a vendor, a fake Lever
//! built on it, and the fake Greenhouse Harvest v3 ([`greenhouse`]), which
//! is also built (feature `fakes`) for the end-to-end tests and the
//! connector conformance suite.

pub mod greenhouse;
#[cfg(test)]
pub(crate) mod lever;
#[cfg(test)]
pub(crate) mod payloads;
#[cfg(test)]
pub(crate) mod server;
