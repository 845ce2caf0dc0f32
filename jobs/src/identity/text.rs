//! What people type around contact data that is not part of it: Unicode
//! blanks and the invisible characters spreadsheets and web forms leave
//! behind. Shared by the email and phone keys.

/// Characters to trim at the ends: Unicode whitespace (which includes U+00A0
/// NO-BREAK SPACE) plus the invisible format characters that spreadsheets and
/// web forms leave behind but `char::is_whitespace` does not cover.
pub(super) fn is_blank(c: char) -> bool {
    c.is_whitespace() || is_invisible(c)
}

/// Zero-width space, non-joiner, joiner, word joiner, byte-order mark.
pub(super) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}
