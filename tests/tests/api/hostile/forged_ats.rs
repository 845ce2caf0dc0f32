//! Forged Greenhouse and Lever deliveries: the same forgeries in their
//! schemes, and Lever signatures over another token or `triggeredAt` (401).

use super::*;

pub(super) fn forged_greenhouse() -> Vec<Case> {
    let body = gh_body;
    let sig_case = |what: &str, f: &dyn Fn(&[u8], &str) -> String, detail: &str| {
        let c = greenhouse(what, body(), 401, "unauthorized", detail);
        let hex = header(&c.headers, "signature").unwrap()["sha256 ".len()..].to_owned();
        let value = f(&c.body, &hex);
        with_headers(c, |h| replace(h, "signature", &value))
    };
    let no_match = "Signature does not match the body";
    let not_form = "not of the form";
    let mut cases = vec![
        with_headers(
            greenhouse(
                "no Signature header",
                body(),
                401,
                "unauthorized",
                "missing Signature header",
            ),
            |h| without(h, "signature"),
        ),
        sig_case(
            "signed with another secret",
            &|b, _| greenhouse_signature("another-secret", b),
            no_match,
        ),
        sig_case(
            "signed with the secret upper-cased",
            &|b, _| greenhouse_signature(&greenhouse_secret().to_uppercase(), b),
            no_match,
        ),
        sig_case(
            "the signature of another body",
            &|_, _| greenhouse_signature(&greenhouse_secret(), &gh_body()),
            no_match,
        ),
        sig_case(
            "hex truncated to 63 digits",
            &|_, hex| format!("sha256 {}", &hex[..63]),
            no_match,
        ),
        sig_case(
            "hex extended to 65 digits",
            &|_, hex| format!("sha256 {hex}0"),
            no_match,
        ),
        sig_case(
            "hex cut in half",
            &|_, hex| format!("sha256 {}", &hex[..32]),
            no_match,
        ),
        sig_case(
            "64 characters that are not hex",
            &|_, _| format!("sha256 {}", "g".repeat(64)),
            no_match,
        ),
        sig_case(
            "one hex digit changed",
            &|_, hex| {
                let first = if hex.starts_with('0') { '1' } else { '0' };
                format!("sha256 {first}{}", &hex[1..])
            },
            no_match,
        ),
        sig_case(
            "a plain SHA-256 of the body, no key",
            &|b, _| format!("sha256 {}", hex::encode(Sha256::digest(b))),
            no_match,
        ),
        sig_case(
            "the MAC in base64",
            &|b, _| {
                format!(
                    "sha256 {}",
                    b64_encode(&hmac_sha256(greenhouse_secret().as_bytes(), b))
                )
            },
            no_match,
        ),
        sig_case(
            "a 40-digit (SHA-1 sized) MAC",
            &|_, hex| format!("sha256 {}", &hex[..40]),
            no_match,
        ),
        sig_case(
            "scheme sha1",
            &|_, hex| format!("sha1 {hex}"),
            "algorithm other than sha256",
        ),
        sig_case(
            "scheme sha512",
            &|_, hex| format!("sha512 {hex}"),
            "algorithm other than sha256",
        ),
        sig_case(
            "scheme hmac-sha256",
            &|_, hex| format!("hmac-sha256 {hex}"),
            "algorithm other than sha256",
        ),
        sig_case(
            "sha256=<hex> (GitHub style)",
            &|_, hex| format!("sha256={hex}"),
            not_form,
        ),
        sig_case("the hex alone", &|_, hex| hex.to_owned(), not_form),
        sig_case("the scheme alone", &|_, _| "sha256".into(), not_form),
        sig_case(
            "the hex twice",
            &|_, hex| format!("sha256 {hex} {hex}"),
            not_form,
        ),
        sig_case("an empty Signature", &|_, _| String::new(), not_form),
        sig_case("a whitespace Signature", &|_, _| "   ".into(), not_form),
        {
            let mut c = greenhouse(
                "body changed after signing (start)",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            c.body[3] ^= 0x01;
            c
        },
        {
            let mut c = greenhouse(
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
            let mut c = greenhouse(
                "a newline appended after signing",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            c.body.push(b'\n');
            c
        },
        {
            // Same meaning, other bytes: the MAC covers bytes.
            let mut c = greenhouse(
                "re-serialised after signing",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            let v: Value = serde_json::from_slice(&c.body).unwrap();
            c.body = serde_json::to_vec_pretty(&v).unwrap();
            c
        },
        {
            let c = greenhouse(
                "a forged Signature before the genuine one",
                body(),
                401,
                "unauthorized",
                no_match,
            );
            with_headers(c, |h| {
                let genuine = header(h, "signature").unwrap().to_owned();
                without(h, "signature");
                h.push(("signature".into(), format!("sha256 {}", "ab".repeat(32))));
                h.push(("signature".into(), genuine));
            })
        },
        {
            let c = greenhouse(
                "X-Hub-Signature-256 instead of Signature",
                body(),
                401,
                "unauthorized",
                "missing Signature header",
            );
            with_headers(c, |h| {
                let hex = header(h, "signature").unwrap()["sha256 ".len()..].to_owned();
                without(h, "signature");
                h.push(("x-hub-signature-256".into(), format!("sha256={hex}")));
            })
        },
        {
            let c = greenhouse(
                "Standard Webhooks headers instead of Signature",
                body(),
                401,
                "unauthorized",
                "missing Signature header",
            );
            with_headers(c, |h| {
                without(h, "signature");
                let b = body();
                h.extend(careers_site_headers(
                    CAREERS_SITE_SECRET,
                    "msg_x",
                    Utc::now().timestamp(),
                    &b,
                ));
            })
        },
    ];
    // 401 comes before 400 and 422.
    cases.push(with_headers(
        greenhouse(
            "forged, and not JSON either",
            b"{\"action\": ".to_vec(),
            401,
            "unauthorized",
            no_match,
        ),
        |h| replace(h, "signature", &format!("sha256 {}", "0".repeat(64))),
    ));
    cases.push(with_headers(
        greenhouse(
            "forged, and without Greenhouse-Event-ID",
            body(),
            401,
            "unauthorized",
            no_match,
        ),
        |h| {
            without(h, "greenhouse-event-id");
            replace(h, "signature", &format!("sha256 {}", "0".repeat(64)));
        },
    ));
    cases.push(with_headers(
        greenhouse(
            "forged, and mistyped too",
            to_bytes(&edited(
                &gh_application("new_candidate_application"),
                "/payload/application/id",
                Some(json!(true)),
            )),
            401,
            "unauthorized",
            no_match,
        ),
        |h| replace(h, "signature", &format!("sha256 {}", "0".repeat(64))),
    ));
    cases
}

pub(super) fn forged_lever() -> Vec<Case> {
    let key = lever_signature_token();
    let no_match = "signature does not match token + triggeredAt";
    let envelope = || lever_event("candidateStageChange");
    let changed = |what: &str, f: &dyn Fn(&mut Value), detail: &str| {
        let mut v = envelope();
        f(&mut v);
        lever(what, to_bytes(&v), 401, "unauthorized", detail)
    };
    let sig_of = |v: &Value| v["signature"].as_str().unwrap().to_owned();
    vec![
        changed(
            "signed with another signature token",
            &|v| {
                let (t, at) = (
                    v["token"].as_str().unwrap().to_owned(),
                    v["triggeredAt"].as_i64().unwrap(),
                );
                v["signature"] = json!(lever_signature("another-signature-token", &t, at));
            },
            no_match,
        ),
        changed(
            "signed over another token",
            &|v| {
                let at = v["triggeredAt"].as_i64().unwrap();
                v["signature"] = json!(lever_signature(&key, "someone-elses-token", at));
            },
            no_match,
        ),
        changed(
            "the token replaced after signing",
            &|v| v["token"] = json!(unique("tok")),
            no_match,
        ),
        changed(
            "signed over another triggeredAt",
            &|v| {
                let (t, at) = (
                    v["token"].as_str().unwrap().to_owned(),
                    v["triggeredAt"].as_i64().unwrap(),
                );
                v["signature"] = json!(lever_signature(&key, &t, at - 1));
            },
            no_match,
        ),
        changed(
            "triggeredAt changed after signing",
            &|v| {
                v["triggeredAt"] = json!(v["triggeredAt"].as_i64().unwrap() + 1);
            },
            no_match,
        ),
        changed(
            "signed over triggeredAt in seconds",
            &|v| {
                let (t, at) = (
                    v["token"].as_str().unwrap().to_owned(),
                    v["triggeredAt"].as_i64().unwrap(),
                );
                v["signature"] = json!(lever_signature(&key, &t, at / 1000));
            },
            no_match,
        ),
        changed(
            "signed over triggeredAt + token (swapped)",
            &|v| {
                let (t, at) = (
                    v["token"].as_str().unwrap().to_owned(),
                    v["triggeredAt"].as_i64().unwrap(),
                );
                v["signature"] = json!(hex::encode(hmac_sha256(
                    key.as_bytes(),
                    format!("{at}{t}").as_bytes()
                )));
            },
            no_match,
        ),
        changed(
            "signed over the whole body instead",
            &|v| {
                let body = to_bytes(v);
                v["signature"] = json!(hex::encode(hmac_sha256(key.as_bytes(), &body)));
            },
            no_match,
        ),
        changed(
            "a plain SHA-256 of token + triggeredAt",
            &|v| {
                let text = format!("{}{}", v["token"].as_str().unwrap(), v["triggeredAt"]);
                v["signature"] = json!(hex::encode(Sha256::digest(text.as_bytes())));
            },
            no_match,
        ),
        changed(
            "signature truncated to 63 digits",
            &|v| v["signature"] = json!(sig_of(v)[..63].to_owned()),
            no_match,
        ),
        changed(
            "signature extended to 65 digits",
            &|v| v["signature"] = json!(format!("{}0", sig_of(v))),
            no_match,
        ),
        changed(
            "signature of 64 non-hex characters",
            &|v| v["signature"] = json!("z".repeat(64)),
            no_match,
        ),
        changed(
            "signature with one digit changed",
            &|v| {
                let s = sig_of(v);
                let first = if s.starts_with('0') { '1' } else { '0' };
                v["signature"] = json!(format!("{first}{}", &s[1..]));
            },
            no_match,
        ),
        changed(
            "signature prefixed sha256=",
            &|v| v["signature"] = json!(format!("sha256={}", sig_of(v))),
            no_match,
        ),
        changed(
            "an empty signature",
            &|v| v["signature"] = json!(""),
            no_match,
        ),
        changed(
            "a whitespace signature",
            &|v| v["signature"] = json!("   "),
            no_match,
        ),
        changed(
            "no signature",
            &|v| {
                v.as_object_mut().unwrap().remove("signature");
            },
            "missing signature",
        ),
        changed(
            "signature null",
            &|v| v["signature"] = Value::Null,
            "missing signature",
        ),
        changed(
            "signature a number",
            &|v| v["signature"] = json!(12345),
            "missing signature",
        ),
        changed(
            "signature an array",
            &|v| v["signature"] = json!([sig_of(v)]),
            "missing signature",
        ),
        changed(
            "signature an object",
            &|v| v["signature"] = json!({ "v1": sig_of(v) }),
            "missing signature",
        ),
        changed(
            "no token",
            &|v| {
                v.as_object_mut().unwrap().remove("token");
            },
            "missing token",
        ),
        changed(
            "an empty token",
            &|v| v["token"] = json!(""),
            "missing token",
        ),
        changed(
            "token a number",
            &|v| v["token"] = json!(42),
            "missing token",
        ),
        changed(
            "token an array",
            &|v| v["token"] = json!(["tok"]),
            "missing token",
        ),
        changed(
            "no triggeredAt",
            &|v| {
                v.as_object_mut().unwrap().remove("triggeredAt");
            },
            "triggeredAt",
        ),
        {
            // The signature moved to a header, where Lever never puts it.
            let mut v = envelope();
            let sig = sig_of(&v);
            v.as_object_mut().unwrap().remove("signature");
            let c = lever(
                "signature in a header instead of the body",
                to_bytes(&v),
                401,
                "unauthorized",
                "missing signature",
            );
            with_headers(c, |h| h.push(("signature".into(), sig)))
        },
        lever(
            "the recorded sample with its signature forged",
            {
                let mut v = payload_json(fixtures::LEVER_STAGE_CHANGE);
                v["signature"] = json!(lever_signature(
                    "another-signature-token",
                    v["token"].as_str().unwrap(),
                    v["triggeredAt"].as_i64().unwrap()
                ));
                to_bytes(&v)
            },
            401,
            "unauthorized",
            no_match,
        ),
        // 401 comes before 422.
        lever(
            "forged, and without an event",
            {
                let mut v = lever_envelope(None, json!({ "opportunityId": "o" }), now_ms());
                v["signature"] = json!("0".repeat(64));
                to_bytes(&v)
            },
            401,
            "unauthorized",
            no_match,
        ),
    ]
}
