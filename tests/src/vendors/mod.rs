//! Fakes of the vendors' APIs, one file per vendor: real local HTTP
//! servers that answer like the vendor in what the service relies on
//! (auth, paging, rate limits, the documented field shapes).

pub mod faults;
pub mod greenhouse;
pub mod lever;
pub mod smartrecruiters;
pub mod workable;
