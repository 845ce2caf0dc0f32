//! sea-orm entities for referral-worker.
