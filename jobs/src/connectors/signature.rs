//! Signature plumbing shared by the connectors' webhook verifiers.
//!
//! # Why webhooks are signed
//!
//! A webhook endpoint is a public URL, so anyone who finds it can POST to it.
//! Each sender shares a secret with us and sends a MAC (message
//! authentication code) that only a holder of the secret could have
//! computed: `HMAC-SHA256(secret, message)`. We compute the same MAC and
//! accept the delivery only if the two match. What counts as the
//! *message* differs per vendor:
//!
//! | Source | Message | Where the MAC travels |
//! |---|---|---|
//! | careers site (Standard Webhooks) | `{webhook-id}.{webhook-timestamp}.{body}` | `webhook-signature: v1,<base64>` |
//! | Greenhouse | the raw body | `Signature: sha256 <hex>` |
//! | Lever | `{token}{triggeredAt}` (the body is **not** covered) | `signature` field inside the body |
//!
//! # Verify bytes, never re-serialised JSON
//!
//! A MAC covers bytes, not "the JSON". `{"a":1}` and `{ "a": 1 }` mean the
//! same thing but have different MACs. Greenhouse writes `<` as `\u003c`
//! and a Rust serialiser would not. So verification always runs over the
//! exact bytes received, before any parsing.
//!
//! # Compare in constant time
//!
//! `==` on byte slices stops at the first difference, so how long it takes
//! reveals how many leading bytes of a forged MAC were right. Measured over
//! many requests, that lets an attacker guess a valid MAC byte by byte.
//! [`hmac::Mac::verify_slice`] and [`subtle::ConstantTimeEq`] always
//! look at every byte. Every comparison of a MAC in this module tree uses
//! one of them.
//!
//! # What lives here
//!
//! * [`HeaderLookup`]: how a verifier reads HTTP headers without this crate
//!   depending on an HTTP library.
//! * `hmac_sha256_hex_matches`: the hex HMAC check that Greenhouse and Lever
//!   share.
//!
//! Typed access to the decoded JSON is next door, in [`super::json`].

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Reads request headers by name, ignoring ASCII case as HTTP requires.
///
/// The `jobs` crate does not depend on an HTTP library, so verifiers take
/// this small trait instead of a `HeaderMap`. It is implemented for:
///
/// * slices, arrays and `Vec`s of `(name, value)` pairs (`String` or
///   `&str`), compared ignoring ASCII case, first match wins;
/// * any `Fn(&str) -> Option<String>`, for example over an axum/`http`
///   `HeaderMap` (whose own lookup already ignores case):
///
/// ```ignore
/// let lookup = |name: &str| headers.get(name)?.to_str().ok().map(str::to_owned);
/// careers_site::verify(secret, &lookup, &body)?;
/// ```
///
/// Header values that are not valid UTF-8 are no use to a verifier. A
/// closure should return `None` for them, and a verifier then reports the
/// header as missing.
pub trait HeaderLookup {
    /// The value of header `name`, if present.
    fn header(&self, name: &str) -> Option<String>;
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| key.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_ref().to_owned())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header(&self, name: &str) -> Option<String> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<String> {
        self.as_slice().header(name)
    }
}

impl<F: Fn(&str) -> Option<String>> HeaderLookup for F {
    fn header(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// HMAC-SHA256 as Greenhouse and Lever compute it.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length of a hex-encoded SHA-256 MAC.
const HEX_MAC_LEN: usize = 64;

/// Starts an HMAC-SHA256 keyed with `key`.
pub(crate) fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of any length: long keys are hashed, short
    // ones zero-padded. hmac 0.13 overrides `KeyInit::new_from_slice` so it
    // never fails. The `Result` only exists because the generic trait
    // also serves fixed-key ciphers.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Whether `claimed_hex` is the hex HMAC-SHA256 under `key` of `parts`
/// joined end to end. Either letter case is accepted.
///
/// The check compares the MAC bytes in constant time ([`Mac::verify_slice`]).
/// A wrong *length* is refused at once, but that leaks nothing: every
/// SHA-256 MAC is 64 hex digits and everybody knows it.
pub(crate) fn hmac_sha256_hex_matches(key: &[u8], parts: &[&[u8]], claimed_hex: &str) -> bool {
    if claimed_hex.len() != HEX_MAC_LEN {
        return false;
    }
    let Ok(claimed) = hex::decode(claimed_hex) else {
        return false;
    };
    let mut mac = hmac_sha256(key);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&claimed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::json;
    use crate::test_support::payloads as test_support;

    #[test]
    fn header_lookup_ignores_ascii_case_and_takes_the_first_match() {
        let pairs = vec![
            ("Webhook-ID".to_owned(), "first".to_owned()),
            ("webhook-id".to_owned(), "second".to_owned()),
        ];
        assert_eq!(pairs.header("webhook-id").as_deref(), Some("first"));
        assert_eq!(pairs.header("WEBHOOK-ID").as_deref(), Some("first"));
        assert_eq!(pairs.header("webhook-signature"), None);
        let array = [("Signature", "sha256 00")];
        assert_eq!(array.header("signature").as_deref(), Some("sha256 00"));
        let closure = |name: &str| (name == "x").then(|| "y".to_owned());
        assert_eq!(closure.header("x").as_deref(), Some("y"));
    }

    #[test]
    fn a_closure_over_an_http_header_map_is_a_lookup() {
        // What the HTTP layer will do. `reqwest::header::HeaderMap` is
        // `http::HeaderMap`, whose own lookup already ignores case.
        let mut map = reqwest::header::HeaderMap::new();
        map.insert("webhook-id", "msg_1".parse().unwrap());
        let lookup = |name: &str| map.get(name)?.to_str().ok().map(str::to_owned);
        assert_eq!(lookup.header("Webhook-ID").as_deref(), Some("msg_1"));
        assert_eq!(lookup.header("webhook-signature"), None);
    }

    #[test]
    fn hex_mac_check_accepts_both_cases_and_refuses_junk() {
        let good = test_support::hmac_hex(b"key", &[b"a", b"b"]);
        assert!(hmac_sha256_hex_matches(b"key", &[b"ab"], &good));
        assert!(hmac_sha256_hex_matches(
            b"key",
            &[b"ab"],
            &good.to_uppercase()
        ));
        assert!(!hmac_sha256_hex_matches(b"key", &[b"abc"], &good));
        assert!(!hmac_sha256_hex_matches(b"other", &[b"ab"], &good));
        assert!(!hmac_sha256_hex_matches(b"key", &[b"ab"], &good[..62]));
        assert!(!hmac_sha256_hex_matches(b"key", &[b"ab"], &"zz".repeat(32)));
        assert!(!hmac_sha256_hex_matches(b"key", &[b"ab"], ""));
    }

    #[test]
    fn json_paths_and_problems() {
        use json::Obj;
        let value: serde_json::Value = serde_json::json!({
            "a": {"n": 5, "s": "x", "blank": " ", "f": 1.5, "null": null, "list": [{"k": 1}, 7]},
            "empty_list": []
        });
        let root = Obj::root(&value).unwrap();
        let a = root.obj("a").unwrap();
        assert_eq!(a.req_id("n").unwrap(), "5");
        assert_eq!(a.id("blank").unwrap(), None);
        assert_eq!(
            a.req_id("blank").unwrap_err(),
            json::invalid("a.blank", "empty")
        );
        assert_eq!(
            a.req_id("f").unwrap_err(),
            json::invalid("a.f", "expected a string or an integer, found number")
        );
        assert_eq!(
            a.req_str("null").unwrap_err(),
            json::invalid("a.null", "missing")
        );
        assert_eq!(
            root.obj("nope").unwrap().req_str("deep").unwrap_err(),
            json::invalid("nope.deep", "missing")
        );
        assert_eq!(a.first("list").unwrap().req_id("k").unwrap(), "1");
        assert_eq!(
            a.all("list").unwrap_err(),
            json::invalid("a.list[1]", "expected an object, found number")
        );
        assert!(!root.map_or_empty_array("empty_list").unwrap().is_present());
        assert_eq!(
            Obj::root(&serde_json::json!([1])).unwrap_err(),
            json::invalid("$", "expected an object, found array")
        );
    }

    /// HMAC-SHA256 written out from RFC 2104 over `sha2`, so the MAC check
    /// is measured against something that does not share its `hmac` crate.
    fn rfc2104_hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        const BLOCK: usize = 64;
        let mut block_key = [0u8; BLOCK];
        if key.len() > BLOCK {
            block_key[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block_key[..key.len()].copy_from_slice(key);
        }
        let padded = |byte: u8| block_key.map(|k| k ^ byte);
        let inner = Sha256::new()
            .chain_update(padded(0x36))
            .chain_update(message)
            .finalize();
        let outer = Sha256::new()
            .chain_update(padded(0x5c))
            .chain_update(inner)
            .finalize();
        let mut mac = [0u8; 32];
        mac.copy_from_slice(&outer);
        mac
    }

    /// `message` cut at the given points, in order, into `parts`.
    fn cut(message: &[u8], cuts: &[proptest::sample::Index]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(message.len() + 1)).collect();
        points.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for point in points {
            parts.push(message[start..point].to_vec());
            start = point;
        }
        parts.push(message[start..].to_vec());
        parts
    }

    mod properties {
        use proptest::collection::vec;
        use proptest::prelude::*;
        use proptest::sample::Index;

        use super::super::hmac_sha256_hex_matches;
        use super::{cut, rfc2104_hmac_sha256};
        use crate::test_support::payloads as test_support;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn hex_mac_check_accepts_the_rfc2104_mac_of_the_joined_parts_in_either_case(
                key in vec(any::<u8>(), 0..150),
                message in vec(any::<u8>(), 0..300),
                cuts in vec(any::<Index>(), 0..4),
            ) {
                let mac = hex::encode(rfc2104_hmac_sha256(&key, &message));
                let parts = cut(&message, &cuts);
                let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                prop_assert!(hmac_sha256_hex_matches(&key, &parts, &mac));
                prop_assert!(hmac_sha256_hex_matches(&key, &parts, &mac.to_uppercase()));
                // The helper the Greenhouse and Lever properties sign with
                // computes the same thing.
                prop_assert_eq!(test_support::hmac_hex(&key, &parts), mac);
            }

            #[test]
            fn hex_mac_check_refuses_a_flipped_bit_of_key_message_or_mac(
                key in vec(any::<u8>(), 1..150),
                message in vec(any::<u8>(), 1..300),
                key_at in any::<Index>(),
                message_at in any::<Index>(),
                mac_at in 0usize..32,
                bit in 0u8..8,
            ) {
                let mac = rfc2104_hmac_sha256(&key, &message);
                let good = hex::encode(mac);
                prop_assert!(hmac_sha256_hex_matches(&key, &[&message], &good));

                let mut other_key = key.clone();
                other_key[key_at.index(key.len())] ^= 1 << bit;
                prop_assert!(!hmac_sha256_hex_matches(&other_key, &[&message], &good));

                let mut other_message = message.clone();
                other_message[message_at.index(message.len())] ^= 1 << bit;
                prop_assert!(!hmac_sha256_hex_matches(&key, &[&other_message], &good));

                let mut other_mac = mac;
                other_mac[mac_at] ^= 1 << bit;
                prop_assert!(!hmac_sha256_hex_matches(&key, &[&message], &hex::encode(other_mac)));
            }

            #[test]
            fn hex_mac_check_refuses_anything_but_64_hex_digits(
                key in vec(any::<u8>(), 0..80),
                message in vec(any::<u8>(), 0..120),
                at in any::<Index>(),
                junk in "[^0-9a-fA-F]",
                extra in "[0-9a-fA-F]{1,4}",
            ) {
                let good = hex::encode(rfc2104_hmac_sha256(&key, &message));
                let i = at.index(good.len());
                let with_junk = format!("{}{junk}{}", &good[..i], &good[i + 1..]);
                let shortened = format!("{}{}", &good[..i], &good[i + 1..]);
                for claim in [
                    with_junk,
                    shortened,
                    format!("{good}{extra}"),
                    format!("{extra}{good}"),
                    format!("{}{extra}", &good[..good.len() - extra.len()]),
                ] {
                    let expect = claim.eq_ignore_ascii_case(&good);
                    prop_assert_eq!(hmac_sha256_hex_matches(&key, &[&message], &claim), expect, "{:?}", claim);
                }
            }
        }
    }
}
