//! Forged careers-site deliveries: wrong secrets, signatures of other bytes,
//! truncated, extended, re-cased and garbled signatures, missing, empty and
//! whitespace headers, other schemes, duplicate headers (401).

use super::*;

// ---------------------------------------------------------------------------
// Forged
// ---------------------------------------------------------------------------

pub(super) fn forged_careers() -> Vec<Case> {
    let body = careers_body;
    let signature = |c: &Case| {
        header(&c.headers, "webhook-signature")
            .expect("signed")
            .to_owned()
    };
    let b64 = |c: &Case| signature(c)["v1,".len()..].to_owned();
    let sig_case = |what: &str, f: &dyn Fn(&Case) -> String, detail: &str| {
        let c = careers(what, body(), 401, "unauthorized", detail);
        let value = f(&c);
        with_headers(c, |h| replace(h, "webhook-signature", &value))
    };
    let no_match = "no v1 signature in webhook-signature matches";
    let mut cases = vec![
        {
            let mut c = careers(
                "signed with another secret",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            let id = header(&c.headers, "webhook-id").unwrap().to_owned();
            c.headers = careers_site_headers(
                OTHER_CAREERS_SITE_SECRET,
                &id,
                Utc::now().timestamp(),
                &c.body,
            );
            c.headers.push(ct("application/json"));
            c
        },
        sig_case(
            "keyed with the secret's text instead of its bytes",
            &|c| {
                standardwebhooks::Webhook::from_bytes(CAREERS_SITE_SECRET.as_bytes().to_vec())
                    .unwrap()
                    .sign(
                        header(&c.headers, "webhook-id").unwrap(),
                        header(&c.headers, "webhook-timestamp")
                            .unwrap()
                            .parse()
                            .unwrap(),
                        &c.body,
                    )
                    .unwrap()
            },
            no_match,
        ),
        sig_case(
            "the signature of another body",
            &|c| {
                let other = careers_site_headers(
                    CAREERS_SITE_SECRET,
                    header(&c.headers, "webhook-id").unwrap(),
                    header(&c.headers, "webhook-timestamp")
                        .unwrap()
                        .parse()
                        .unwrap(),
                    &careers_body(),
                );
                header(&other, "webhook-signature").unwrap().to_owned()
            },
            no_match,
        ),
        sig_case(
            "signed over another webhook-id",
            &|c| {
                let other = careers_site_headers(
                    CAREERS_SITE_SECRET,
                    "msg_someone_else",
                    header(&c.headers, "webhook-timestamp")
                        .unwrap()
                        .parse()
                        .unwrap(),
                    &c.body,
                );
                header(&other, "webhook-signature").unwrap().to_owned()
            },
            no_match,
        ),
        sig_case(
            "signed over another timestamp",
            &|c| {
                let at: i64 = header(&c.headers, "webhook-timestamp")
                    .unwrap()
                    .parse()
                    .unwrap();
                let other = careers_site_headers(
                    CAREERS_SITE_SECRET,
                    header(&c.headers, "webhook-id").unwrap(),
                    at - 1,
                    &c.body,
                );
                header(&other, "webhook-signature").unwrap().to_owned()
            },
            no_match,
        ),
        sig_case(
            "signature truncated by one character",
            &|c| signature(c)[..signature(c).len() - 1].to_owned(),
            no_match,
        ),
        sig_case(
            "signature cut in half",
            &|c| signature(c)[..signature(c).len() / 2].to_owned(),
            no_match,
        ),
        sig_case(
            "signature extended by a character",
            &|c| format!("{}A", signature(c)),
            no_match,
        ),
        sig_case(
            "signature extended by padding",
            &|c| format!("{}==", signature(c)),
            no_match,
        ),
        sig_case(
            "signature without its padding",
            &|c| format!("v1,{}", b64(c).trim_end_matches('=')),
            no_match,
        ),
        sig_case(
            "signature with its letters' case flipped",
            &|c| format!("v1,{}", flip_case(&b64(c))),
            no_match,
        ),
        sig_case(
            "signature with one base64 character changed",
            &|c| {
                let s = b64(c);
                let first = if s.starts_with('A') { 'B' } else { 'A' };
                format!("v1,{first}{}", &s[1..])
            },
            no_match,
        ),
        sig_case(
            "signature in URL-safe base64",
            &|c| {
                format!(
                    "v1,{}",
                    b64(c).replace('+', "-").replace('/', "_").replace('=', "~")
                )
            },
            no_match,
        ),
        sig_case(
            "signature that is not base64",
            &|_| "v1,!!!!not-base64!!!!".into(),
            no_match,
        ),
        sig_case("scheme v2", &|c| format!("v2,{}", b64(c)), no_match),
        sig_case("scheme V1", &|c| format!("V1,{}", b64(c)), no_match),
        sig_case("scheme v1a", &|c| format!("v1a,{}", b64(c)), no_match),
        sig_case("no scheme", &|c| b64(c), no_match),
        sig_case(
            "v1= instead of v1,",
            &|c| format!("v1={}", b64(c)),
            no_match,
        ),
        sig_case(
            "v1 and a space instead of v1,",
            &|c| format!("v1 {}", b64(c)),
            no_match,
        ),
        sig_case(
            "a Greenhouse-style sha256 hex signature",
            &|c| greenhouse_signature(CAREERS_SITE_SECRET, &c.body),
            no_match,
        ),
        sig_case(
            "two wrong signatures",
            &|_| "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1,BBBB".into(),
            no_match,
        ),
        sig_case("an empty signature", &|_| String::new(), no_match),
        sig_case("a whitespace signature", &|_| "   ".into(), "signature"),
        {
            // The body changed after signing, at several places.
            let mut c = careers(
                "body changed after signing (start)",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            c.body[2] ^= 0x01;
            c
        },
        {
            let mut c = careers(
                "body changed after signing (middle)",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            let at = c.body.len() / 2;
            c.body[at] ^= 0x20;
            c
        },
        {
            let mut c = careers(
                "body changed after signing (end)",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            let at = c.body.len() - 2;
            c.body[at] ^= 0x01;
            c
        },
        {
            let mut c = careers(
                "a newline appended after signing",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            c.body.push(b'\n');
            c
        },
        with_headers(
            careers(
                "no webhook-id",
                body(),
                401,
                "unauthorized",
                "missing webhook-id header",
            ),
            |h| without(h, "webhook-id"),
        ),
        with_headers(
            careers(
                "no webhook-timestamp",
                body(),
                401,
                "unauthorized",
                "missing webhook-timestamp header",
            ),
            |h| without(h, "webhook-timestamp"),
        ),
        with_headers(
            careers(
                "no webhook-signature",
                body(),
                401,
                "unauthorized",
                "missing webhook-signature header",
            ),
            |h| without(h, "webhook-signature"),
        ),
        with_headers(
            careers(
                "no signature headers at all",
                body(),
                401,
                "unauthorized",
                "missing webhook-id header",
            ),
            |h| {
                without(h, "webhook-id");
                without(h, "webhook-timestamp");
                without(h, "webhook-signature");
            },
        ),
        with_headers(
            careers(
                "an empty webhook-id",
                body(),
                401,
                "unauthorized",
                "signature",
            ),
            |h| replace(h, "webhook-id", ""),
        ),
        with_headers(
            careers(
                "a whitespace webhook-id",
                body(),
                401,
                "unauthorized",
                "signature",
            ),
            |h| replace(h, "webhook-id", "   "),
        ),
        with_headers(
            careers(
                "an empty webhook-timestamp",
                body(),
                401,
                "unauthorized",
                "not an integer",
            ),
            |h| replace(h, "webhook-timestamp", ""),
        ),
        with_headers(
            careers(
                "a whitespace webhook-timestamp",
                body(),
                401,
                "unauthorized",
                "not an integer",
            ),
            |h| replace(h, "webhook-timestamp", "   "),
        ),
        {
            // A '.' would make the signed text ambiguous: refused even when signed.
            let mut c = careers(
                "a webhook-id with a dot, signed",
                body(),
                401,
                "unauthorized",
                "must not contain '.'",
            );
            c.headers = careers_site_headers(
                CAREERS_SITE_SECRET,
                "msg_a.b",
                Utc::now().timestamp(),
                &c.body,
            );
            c.headers.push(ct("application/json"));
            c
        },
        {
            // Two webhook-signature headers, the forged one first.
            let c = careers(
                "a forged webhook-signature before the genuine one",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            let genuine = signature(&c);
            with_headers(c, |h| {
                without(h, "webhook-signature");
                h.push((
                    "webhook-signature".into(),
                    "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                ));
                h.push(("webhook-signature".into(), genuine));
            })
        },
        with_headers(
            careers(
                "two forged webhook-signature headers",
                body(),
                401,
                "unauthorized",
                no_match,
            ),
            |h| {
                without(h, "webhook-signature");
                h.push(("webhook-signature".into(), "v1,AAAA".into()));
                h.push(("webhook-signature".into(), "v1,BBBB".into()));
            },
        ),
        {
            // Two webhook-id headers: the signature covers the second.
            let c = careers(
                "another webhook-id before the signed one",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            with_headers(c, |h| {
                let signed = header(h, "webhook-id").unwrap().to_owned();
                without(h, "webhook-id");
                h.push(("webhook-id".into(), "msg_not_signed".into()));
                h.push(("webhook-id".into(), signed));
            })
        },
        {
            // Svix-branded names are not the headers we read.
            let c = careers(
                "svix-* headers instead of webhook-*",
                body(),
                401,
                "unauthorized",
                "missing webhook-id header",
            );
            with_headers(c, |h| {
                for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
                    let value = header(h, name).unwrap().to_owned();
                    without(h, name);
                    h.push((name.replacen("webhook", "svix", 1), value));
                }
            })
        },
        {
            let c = careers(
                "a Greenhouse Signature header instead",
                body(),
                401,
                "unauthorized",
                "missing webhook-id header",
            );
            let gh = greenhouse_signature(&greenhouse_secret(), &c.body);
            with_headers(c, |h| {
                without(h, "webhook-id");
                without(h, "webhook-timestamp");
                without(h, "webhook-signature");
                h.push(("signature".into(), gh));
            })
        },
    ];
    // 401 comes before 400 and 422.
    cases.push(with_headers(
        careers(
            "forged, and not JSON either",
            b"{\"type\": ".to_vec(),
            401,
            "unauthorized",
            no_match,
        ),
        |h| replace(h, "webhook-signature", "v1,AAAA"),
    ));
    cases.push(with_headers(
        careers(
            "forged, and mistyped too",
            to_bytes(&edited(
                &careers_submitted(),
                "/submission_id",
                Some(json!(true)),
            )),
            401,
            "unauthorized",
            no_match,
        ),
        |h| replace(h, "webhook-signature", "v1,AAAA"),
    ));
    cases
}
