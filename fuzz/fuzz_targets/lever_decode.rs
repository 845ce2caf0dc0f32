//! `jobs::connectors::lever::decode` on arbitrary bytes: never panics, is
//! deterministic, and yields only an opportunity to re-fetch or `Ignored`.

#![no_main]

mod common;

use common::non_blank;
use jobs::connectors::lever::{self, OPPORTUNITY_EVENTS};
use jobs::intake::IntakeEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let decoded = lever::decode(body);
    // Decoding is pure: the HTTP intake and the processing job decode the
    // same stored bytes and must see the same event (intake/mod.rs).
    assert_eq!(decoded, lever::decode(body), "decode is not deterministic");
    let Ok(event) = decoded else { return };
    match &event {
        IntakeEvent::LeverOpportunity {
            event,
            opportunity_id,
        } => {
            assert!(OPPORTUNITY_EVENTS.contains(&event.as_str()), "{event:?}");
            non_blank("opportunity_id", opportunity_id);
        }
        IntakeEvent::Ignored { event } => {
            assert!(!OPPORTUNITY_EVENTS.contains(&event.as_str()), "{event:?}");
        }
        other => panic!("Lever yielded {other:?}"),
    }
});
