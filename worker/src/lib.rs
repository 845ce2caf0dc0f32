//! referral-worker library.
