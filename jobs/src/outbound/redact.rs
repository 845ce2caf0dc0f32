//! What of a receiver's answer may be kept: a short excerpt, personal data
//! and tokens masked, control and markup characters escaped.
//!
//! A receiver (the bonus system, an ATS, a CRM, a proxy in front of any of
//! them) answers an error with whatever it likes: an HTML page, a stack
//! trace, the candidate record it choked on. That text ends up in job
//! errors, `outbound_messages.last_error`, ERROR logs and the Slack alert,
//! which are read by more people, and kept longer, than the receiver's own
//! logs. So [`excerpt`] keeps at most [`EXCERPT_CHARS`] characters of it,
//! on one line, with
//!
//! * e-mail addresses replaced by `[email]`, phone-like digit runs (7 to 15
//!   digits with the usual separators) by `[phone]`, and token-like runs
//!   (20 or more characters of a base64/hex/JWT alphabet, with letters and
//!   digits both) by `[token]`;
//! * control characters, Unicode format characters (bidi overrides) and
//!   markup characters (`<`, `>`, `&`, `` ` ``) written as `\u{..}`, so no
//!   log viewer, terminal or chat client renders them.
//!
//! [`slack_text`] escapes a whole alert text the way Slack's message
//! formatting asks (`&`, `<`, `>` as entities). Called by
//! [`super::http::excerpt`] (every outbound client's error path) and by
//! `outbox::alert`.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Longest excerpt, in characters before escaping.
pub const EXCERPT_CHARS: usize = 200;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+").expect("valid regex")
});
static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9_\-+/=.~]{20,}").expect("valid regex"));
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d[\d\s().\-/]{5,20}\d").expect("valid regex"));
static ISO_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{4}-\d{2}-\d{2}").expect("valid regex"));

/// `text` (already scrubbed of the caller's own secrets) on one line, masked,
/// cut to [`EXCERPT_CHARS`] and escaped (see the module docs).
pub fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut masked = mask(&one_line);
    let cut = masked.char_indices().nth(EXCERPT_CHARS).map(|(i, _)| i);
    if let Some(cut) = cut {
        masked.truncate(cut);
    }
    let mut out = escape(&masked);
    if cut.is_some() {
        out.push('…');
    }
    out
}

/// E-mail addresses, tokens and phone numbers in `text` replaced by
/// `[email]`, `[token]` and `[phone]`.
pub fn mask(text: &str) -> String {
    let text = EMAIL.replace_all(text, "[email]");
    let text = TOKEN.replace_all(&text, |c: &Captures<'_>| {
        let run = &c[0];
        let letters = run.chars().any(|ch| ch.is_ascii_alphabetic());
        let digits = run.chars().any(|ch| ch.is_ascii_digit());
        if letters && digits {
            "[token]".to_owned()
        } else {
            run.to_owned()
        }
    });
    let text = PHONE.replace_all(&text, |c: &Captures<'_>| {
        let run = &c[0];
        let digits = run.chars().filter(char::is_ascii_digit).count();
        if (7..=15).contains(&digits) && !ISO_DATE.is_match(run) {
            "[phone]".to_owned()
        } else {
            run.to_owned()
        }
    });
    text.into_owned()
}

/// Control, format and markup characters written as `\u{..}`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if needs_escape(ch) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(ch)));
        } else {
            out.push(ch);
        }
    }
    out
}

fn needs_escape(ch: char) -> bool {
    ch.is_control()
        || matches!(ch, '<' | '>' | '&' | '`')
        // Bidi embeddings, overrides and isolates; zero-width characters.
        || matches!(ch, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `text` escaped for a Slack message's `text`: `&`, `<` and `>` as
/// `&amp;`, `&lt;` and `&gt;`, so nothing in it becomes a mention
/// (`<!channel>`), a link or a user reference.
pub fn slack_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn personal_data_and_tokens_are_masked() {
        let body = r#"{"error":"duplicate","candidate":{"email":"jane.doe+1@mail.example.com","phone":"+1 (415) 555-0134","token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc123def456"},"at":"2026-01-15T09:30:00Z","amount":150000}"#;
        let got = excerpt(body);
        assert!(!got.contains("jane"), "{got}");
        assert!(!got.contains("555"), "{got}");
        assert!(!got.contains("eyJ"), "{got}");
        assert!(
            got.contains("[email]") && got.contains("[phone]") && got.contains("[token]"),
            "{got}"
        );
        // What helps ops stays: the error, dates, amounts.
        assert!(
            got.contains("duplicate") && got.contains("2026-01-15") && got.contains("150000"),
            "{got}"
        );
    }

    #[test]
    fn markup_and_control_characters_are_escaped() {
        let got = excerpt("<b>x</b> & `y`\u{1b}[31m red \u{202e}txt <!channel>");
        for bad in ['<', '>', '&', '`', '\u{1b}', '\u{202e}'] {
            assert!(!got.contains(bad), "{bad:?} in {got}");
        }
        assert!(got.contains("\\u{3c}b\\u{3e}x"), "{got}");
    }

    #[test]
    fn long_bodies_are_cut() {
        let got = excerpt(&"word ".repeat(1000));
        assert!(got.chars().count() <= EXCERPT_CHARS + 1, "{}", got.len());
        assert!(got.ends_with('…'));
    }

    #[test]
    fn slack_text_escapes_its_three_characters() {
        assert_eq!(
            slack_text("a & <!here> > b"),
            "a &amp; &lt;!here&gt; &gt; b"
        );
    }

    proptest! {
        #[test]
        fn no_excerpt_carries_markup_control_or_an_email(body in "\\PC{0,400}|[a-z]{1,10}@[a-z]{1,10}\\.com") {
            let got = excerpt(&body);
            prop_assert!(!got.chars().any(|c| c.is_control() || matches!(c, '<' | '>' | '&' | '`')), "{got}");
            prop_assert!(!EMAIL.is_match(&got), "{got}");
            prop_assert!(got.chars().count() <= EXCERPT_CHARS * 10 + 1);
        }
    }
}
