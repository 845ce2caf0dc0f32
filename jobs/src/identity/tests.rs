//! Tests of `identity/`.

use super::*;
use proptest::prelude::*;

fn email(raw: &str) -> Option<String> {
    CanonicalEmail::parse(raw).map(|e| e.as_str().to_owned())
}

fn phone(raw: &str, hints: &[&str]) -> Option<String> {
    E164::parse(raw, hints).map(|p| p.as_str().to_owned())
}

#[test]
fn email_canonical_forms() {
    let cases: &[(&str, &str, &str)] = &[
        // (why, raw, canonical)
        ("case", "Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("spaces", "  jane@example.com \t\n", "jane@example.com"),
        ("nbsp", "\u{a0}jane@example.com\u{a0}", "jane@example.com"),
        ("em space", "\u{2003}jane@example.com", "jane@example.com"),
        (
            "zero-width",
            "\u{feff}jane@example.com\u{200b}",
            "jane@example.com",
        ),
        ("NFC José", "jos\u{e9}@example.com", "jos\u{e9}@example.com"),
        (
            "NFD José",
            "jose\u{301}@example.com",
            "jos\u{e9}@example.com",
        ),
        (
            "NFD JOSÉ",
            "JOSE\u{301}@EXAMPLE.COM",
            "jos\u{e9}@example.com",
        ),
        ("unicode domain", "anna@Bücher.DE", "anna@bücher.de"),
        (
            "gmail dots",
            "j.o.h.n.smith@gmail.com",
            "johnsmith@gmail.com",
        ),
        (
            "gmail tag",
            "John.Smith+jobs@Gmail.com",
            "johnsmith@gmail.com",
        ),
        ("gmail tags", "john+a+b@gmail.com", "john@gmail.com"),
        (
            "googlemail",
            "JohnSmith@GoogleMail.com",
            "johnsmith@gmail.com",
        ),
        (
            "googlemail tag",
            "john.smith+x@googlemail.com",
            "johnsmith@gmail.com",
        ),
        (
            "outlook",
            "john.smith+jobs@outlook.com",
            "john.smith@outlook.com",
        ),
        ("hotmail", "john+jobs@hotmail.com", "john@hotmail.com"),
        ("live", "john+jobs@live.com", "john@live.com"),
        ("yahoo plus", "john+jobs@yahoo.com", "john@yahoo.com"),
        (
            "yahoo dash kept",
            "john-jobs@yahoo.com",
            "john-jobs@yahoo.com",
        ),
        ("fastmail", "john+jobs@fastmail.com", "john@fastmail.com"),
        ("icloud", "john+jobs@icloud.com", "john@icloud.com"),
        ("me.com", "john+jobs@me.com", "john@me.com"),
        ("mac.com", "john+jobs@mac.com", "john@mac.com"),
        ("proton", "john+jobs@protonmail.com", "john@protonmail.com"),
        ("proton.me", "john+jobs@proton.me", "john@proton.me"),
        (
            "outlook dots kept",
            "j.smith@outlook.com",
            "j.smith@outlook.com",
        ),
        (
            "other: tag kept",
            "john.smith+jobs@example.com",
            "john.smith+jobs@example.com",
        ),
        (
            "other: dots kept",
            "john.smith@company.de",
            "john.smith@company.de",
        ),
        (
            "subdomain is not gmail",
            "j.s+x@mail.gmail.com",
            "j.s+x@mail.gmail.com",
        ),
        (
            "lookalike is not gmail",
            "j.s+x@gmail.com.evil.org",
            "j.s+x@gmail.com.evil.org",
        ),
        (
            "capital sharp s",
            "STRAẞE@example.com",
            "straße@example.com",
        ),
    ];
    for (why, raw, want) in cases {
        assert_eq!(email(raw).as_deref(), Some(*want), "{why}: {raw:?}");
    }
}

#[test]
fn nfc_and_nfd_jose_are_one_key() {
    let nfc = CanonicalEmail::parse("Jos\u{e9}@example.com");
    let nfd = CanonicalEmail::parse("Jose\u{301}@example.com");
    assert!(nfc.is_some());
    assert_eq!(nfc, nfd);
}

#[test]
fn not_emails() {
    let cases = [
        "",
        "   ",
        "\u{a0}",
        "not an email",
        "jane",
        "@example.com",
        "jane@",
        "jane@@example.com",
        "jane@doe@example.com",
        "jane@example",
        "jane@.example.com",
        "jane@example..com",
        "jane@example.com.",
        "jane@-example.com",
        "jane@exa_mple.com",
        ".jane@example.com",
        "jane.@example.com",
        "ja..ne@example.com",
        "ja ne@example.com",
        "jane@exa mple.com",
        "ja\u{200b}ne@example.com",
        "ja\tne@example.com",
        "<jane@example.com>",
        "Jane Doe <jane@example.com>",
        "jane@example.com, john@example.com",
        "jane@[127.0.0.1]",
        "jane@127.0.0.1",
        "\"jane doe\"@example.com",
        "+jobs@gmail.com",
        "...@gmail.com",
        "+jobs@outlook.com",
        "jane.+jobs@outlook.com",
    ];
    for raw in cases {
        assert_eq!(email(raw), None, "{raw:?}");
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    assert_eq!(email(&long_local), None);
}

#[test]
fn email_domain_accessor() {
    let e = CanonicalEmail::parse("x+y@GoogleMail.com").unwrap();
    assert_eq!(e.domain(), "gmail.com");
}

#[test]
fn phone_formats() {
    let cases: &[(&str, &str, &[&str], Option<&str>)] = &[
        // (why, raw, hints, E.164)
        (
            "national + hint",
            "030 1234-5678",
            &["DE"],
            Some("+493012345678"),
        ),
        (
            "(0) trunk prefix",
            "+49 (0)30 1234 5678",
            &[],
            Some("+493012345678"),
        ),
        ("00 prefix", "0049 30 12345678", &[], Some("+493012345678")),
        (
            "00 prefix, other hint",
            "0049 30 123456789",
            &["US"],
            Some("+4930123456789"),
        ),
        (
            "00 + (0)",
            "0049 (0)30 123456789",
            &[],
            Some("+4930123456789"),
        ),
        (
            "US national",
            "(415) 555-2671",
            &["US"],
            Some("+14155552671"),
        ),
        (
            "US with 1",
            "1 (415) 555-2671",
            &["US"],
            Some("+14155552671"),
        ),
        ("hint case", "(415) 555-2671", &["us"], Some("+14155552671")),
        (
            "bad hint skipped",
            "(415) 555-2671",
            &["XX", "", "US"],
            Some("+14155552671"),
        ),
        ("no region", "(415) 555-2671", &[], None),
        ("only bad hints", "030 12345678", &["ZZ"], None),
        ("UK alias", "020 7946 0123", &["UK"], Some("+442079460123")),
        (
            "+ ignores hints",
            "+49 30 12345678",
            &["US"],
            Some("+493012345678"),
        ),
        (
            "#83 mixed separators",
            "+1 650-253-0000",
            &[],
            Some("+16502530000"),
        ),
        ("#47", "+1 520-878-2491", &[], Some("+15208782491")),
        ("#82 dots", "+687 24.12.34", &[], Some("+687241234")),
        ("dots", "+1.650.253.0000", &[], Some("+16502530000")),
        ("slash", "030/12345678", &["DE"], Some("+493012345678")),
        (
            "nbsp",
            "+49\u{a0}30\u{a0}12345678",
            &[],
            Some("+493012345678"),
        ),
        (
            "en dash",
            "030 \u{2013} 12345678",
            &["DE"],
            Some("+493012345678"),
        ),
        (
            "full width",
            "＋４９ ３０ １２３４５６７８",
            &[],
            Some("+493012345678"),
        ),
        ("padded", "  +49 30 12345678  ", &[], Some("+493012345678")),
        (
            "tel: uri",
            "tel:+49-30-1234-5678",
            &[],
            Some("+493012345678"),
        ),
        (
            "tel: ext",
            "TEL:+49-30-12345678;ext=99",
            &[],
            Some("+493012345678"),
        ),
        (
            "ext.",
            "030 12345678 ext. 12",
            &["DE"],
            Some("+493012345678"),
        ),
        ("Ext", "030 12345678 Ext 12", &["DE"], Some("+493012345678")),
        (
            "extension",
            "+1 415 555 2671 extension 7",
            &[],
            Some("+14155552671"),
        ),
        ("x", "+1 (415) 555-2671 x12", &[], Some("+14155552671")),
        (
            "X no space",
            "+1 (415) 555-2671X12",
            &[],
            Some("+14155552671"),
        ),
        ("#", "+1 415 555 2671 #3", &[], Some("+14155552671")),
        ("comma", "+1 415 555 2671,,3", &[], Some("+14155552671")),
        ("italy zero", "+39 06 1234 5678", &[], Some("+390612345678")),
        (
            "italy mobile",
            "+39 312 345 6789",
            &[],
            Some("+393123456789"),
        ),
        ("andorra 6 digits", "712 345", &["AD"], Some("+376712345")),
        (
            "DE mobile",
            "0151 12345678",
            &["DE"],
            Some("+4915112345678"),
        ),
    ];
    for (why, raw, hints, want) in cases {
        assert_eq!(
            phone(raw, hints).as_deref(),
            *want,
            "{why}: {raw:?} {hints:?}"
        );
    }
}

#[test]
fn phone_non_numbers_and_shared_numbers_are_refused() {
    let cases: &[(&str, &str, &[&str], Option<&str>)] = &[
        // (why, raw, hints, E.164)
        ("letters", "1-800-FLOWERS", &["US"], None),
        ("words", "call me", &["DE"], None),
        ("n/a", "n/a", &["DE"], None),
        ("mixed", "030 12345678 (mobile)", &["DE"], None),
        ("empty", "", &["DE"], None),
        ("blank", " \u{a0} ", &["DE"], None),
        ("just plus", "+", &[], None),
        ("plus inside", "030+12345678", &["DE"], None),
        ("two numbers", "030 12345678 / 0151 12345678", &["DE"], None),
        ("invalid", "+49 1", &[], None),
        ("unknown cc", "+999 1234567", &[], None),
        ("US not valid", "(123) 456-7891", &["US"], None),
        ("toll-free", "+1 800 275 2273", &[], None),
        ("DE toll-free", "0800 3301000", &["DE"], None),
        ("premium", "+49 900 12345678", &[], None),
        ("shared cost", "+49 180 12345678", &[], None),
    ];
    for (why, raw, hints, want) in cases {
        assert_eq!(
            phone(raw, hints).as_deref(),
            *want,
            "{why}: {raw:?} {hints:?}"
        );
    }
}

#[test]
fn region_hints_are_tried_in_order() {
    // Valid both as a Californian number and in Schwarzenbek (04155): the
    // first hint that gives a valid number wins.
    assert_eq!(
        phone("4155552671", &["US", "DE"]).as_deref(),
        Some("+14155552671")
    );
    assert_eq!(
        phone("4155552671", &["DE", "US"]).as_deref(),
        Some("+494155552671")
    );
    // Invalid under the first hint, so the second one is tried.
    assert_eq!(
        phone("030 12345678", &["US", "DE"]).as_deref(),
        Some("+493012345678")
    );
}

#[test]
fn dummies_are_never_keys() {
    let cases: &[(&str, &[&str])] = &[
        ("000000", &["DE"]),
        ("0000000000", &["US"]),
        ("1111111111", &["US"]),
        ("+49 1111111111", &[]),
        ("1234567890", &["US"]),
        ("1234567890", &["DE"]),
        ("0123456789", &["DE"]),
        ("+1 234 567 8901", &[]),
        ("9876543210", &["US"]),
        ("911", &["US"]),
        ("112", &["DE"]),
        ("123456", &["DE"]),
        ("12345", &["US"]),
        ("+1 555-0100", &[]),
        ("+1 (201) 555-0123", &[]),
        ("(415) 555-0199", &["US"]),
        ("+49 30 00000000", &[]),
        ("+49 151 11111111", &[]),
    ];
    for (raw, hints) in cases {
        assert!(E164::is_dummy(raw, hints), "is_dummy {raw:?} {hints:?}");
        assert_eq!(phone(raw, hints), None, "parse {raw:?} {hints:?}");
    }
    // Close to the fiction range but outside it.
    assert!(!E164::is_dummy("(415) 555-0200", &["US"]));
    assert!(!E164::is_dummy("(415) 555-2671", &["US"]));
    // A dummy under the first valid reading is not rescued by a later hint.
    assert_eq!(phone("(201) 555-0123", &["US", "DE"]), None);
    // Not a number at all is not a "dummy".
    assert!(!E164::is_dummy("call me", &["US"]));
}

#[test]
fn candidate_keys() {
    let keys = CandidateKeys::from_raw(
        Some(" Jane.Doe+ref@GMAIL.com "),
        Some("030 1234-5678"),
        &["DE"],
    );
    assert_eq!(keys.email.as_ref().unwrap().as_str(), "janedoe@gmail.com");
    assert_eq!(keys.phone.as_ref().unwrap().as_str(), "+493012345678");
    assert!(!keys.is_empty());

    let none = CandidateKeys::from_raw(Some("n/a"), Some("123456"), &["DE"]);
    assert!(none.is_empty());
    assert_eq!(none, CandidateKeys::default());
    assert!(CandidateKeys::from_raw(None, None, &[]).is_empty());
}

#[test]
fn serde_is_transparent() {
    let keys = CandidateKeys::from_raw(Some("A@B.de"), Some("+49 30 12345678"), &[]);
    let json = serde_json::to_string(&keys).unwrap();
    assert_eq!(json, r#"{"email":"a@b.de","phone":"+493012345678"}"#);
    let back: CandidateKeys = serde_json::from_str(&json).unwrap();
    assert_eq!(back, keys);
}

/// Local parts and domains with upper case, non-ASCII and the characters
/// the provider rules act on.
fn email_like() -> impl Strategy<Value = String> {
    let local = "[A-Za-z0-9ÉéÜüßẞİΣ._+-]{1,20}";
    let domain = prop_oneof![
        Just("gmail.com".to_owned()),
        Just("GoogleMail.com".to_owned()),
        Just("outlook.com".to_owned()),
        Just("Yahoo.com".to_owned()),
        "[A-Za-z0-9ÄäÉ-]{1,12}\\.(com|DE|org|xn--p1ai)",
    ];
    (local, domain).prop_map(|(l, d)| format!("{l}@{d}"))
}

fn blank() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(' '),
            Just('\t'),
            Just('\n'),
            Just('\u{a0}'),
            Just('\u{2003}'),
            Just('\u{feff}'),
        ],
        0..4,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// `c` in upper or lower case. Characters whose upper case is a different
/// string, not a different case (`ß` → `SS`), are left alone: that is a
/// spelling change, not a case change.
fn recase(c: char, upper: bool) -> String {
    let lower: String = c.to_lowercase().collect();
    let up: String = c.to_uppercase().collect();
    if !upper {
        lower
    } else if up.chars().flat_map(char::to_lowercase).collect::<String>() == lower {
        up
    } else {
        c.to_string()
    }
}

/// Mostly plausible numbers (so that many parse), plus noise.
fn phone_like() -> impl Strategy<Value = String> {
    let prefix = proptest::sample::select(vec![
        "", "0", "1 ", "+1 ", "+49 ", "+49 (0)", "0049 ", "+39 0", "+44 ", "+376 ", "tel:+64 ",
    ]);
    let body = proptest::collection::vec(("[0-9]{1,4}", "[ ./-]?"), 1..5).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(d, sep)| d + &sep)
            .collect::<String>()
    });
    let extension = proptest::sample::select(vec!["", " x12", " ext. 3", ";ext=9"]);
    prop_oneof![
        3 => (prefix, body, extension).prop_map(|(p, b, e)| format!("{p}{b}{e}")),
        1 => "[+0-9 ()./x#-]{0,24}",
    ]
}

const HINTS: &[&str] = &["DE", "US", "GB", "IT", "AD", "NZ", "FR"];

proptest! {
    #[test]
    fn email_parse_never_panics(raw in any::<String>()) {
        let _ = CanonicalEmail::parse(&raw);
    }

    #[test]
    fn email_canonicalisation_is_idempotent(raw in prop_oneof![any::<String>(), email_like()]) {
        if let Some(key) = CanonicalEmail::parse(&raw) {
            prop_assert_eq!(CanonicalEmail::parse(key.as_str()), Some(key.clone()));
        }
    }

    #[test]
    fn email_case_and_whitespace_do_not_matter(
        addr in email_like(),
        upper in proptest::collection::vec(any::<bool>(), 40),
        before in blank(),
        after in blank(),
    ) {
        let recased: String = addr
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, &up)| recase(c, up))
            .collect();
        let padded = format!("{before}{recased}{after}");
        prop_assert_eq!(
            CanonicalEmail::parse(&addr),
            CanonicalEmail::parse(&padded),
            "{:?} vs {:?}", addr, padded
        );
    }

    #[test]
    fn phone_parse_never_panics(raw in any::<String>(), hint in proptest::sample::select(HINTS)) {
        let _ = E164::parse(&raw, &[hint]);
        let _ = E164::is_dummy(&raw, &[hint]);
    }

    #[test]
    fn phone_canonicalisation_is_idempotent(
        raw in phone_like(),
        hints in proptest::sample::subsequence(HINTS.to_vec(), 0..3),
    ) {
        if let Some(key) = E164::parse(&raw, &hints) {
            prop_assert!(key.as_str().starts_with('+'));
            prop_assert!(!E164::is_dummy(&raw, &hints));
            // The E.164 form needs no hint, and any hint leaves it alone.
            prop_assert_eq!(E164::parse(key.as_str(), &[]), Some(key.clone()));
            prop_assert_eq!(E164::parse(key.as_str(), &["US"]), Some(key.clone()));
        }
    }
}
