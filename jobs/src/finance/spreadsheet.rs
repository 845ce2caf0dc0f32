//! CSV cells made safe to open in a spreadsheet: a cell that starts with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel, LibreOffice
//! and Google Sheets as a formula (or as the start of one), so a value that
//! came from outside (a reason typed by an operator, a job id or a variance
//! detail from an ATS) could run `=HYPERLINK(...)` or worse on a finance
//! user's machine. Such a cell is written with a leading `'`, which every
//! spreadsheet shows as text, the OWASP "CSV injection" advice.
//!
//! A plain number (`-1500`, `-12.50`, `+3`) is left alone: it is no formula,
//! and finance sums the amount columns.
//!
//! Used by every CSV this service writes: the exports
//! ([`super::export`]) and the reconciliation run items
//! (`maintenance::reconcile::items_csv`).

use std::borrow::Cow;

/// `cell`, prefixed with `'` when a spreadsheet would read it as a formula.
pub fn neutralise(cell: &[u8]) -> Cow<'_, [u8]> {
    match cell.first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if !is_plain_number(cell) => {
            let mut out = Vec::with_capacity(cell.len() + 1);
            out.push(b'\'');
            out.extend_from_slice(cell);
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(cell),
    }
}

/// A sign, digits, and at most one `.` followed by digits.
fn is_plain_number(cell: &[u8]) -> bool {
    let digits = match cell.first() {
        Some(b'-' | b'+') => &cell[1..],
        _ => cell,
    };
    let (int, frac) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    !int.is_empty()
        && int.iter().all(u8::is_ascii_digit)
        && frac.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text(cell: &str) -> String {
        String::from_utf8(neutralise(cell.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn formulas_become_text_and_numbers_stay_numbers() {
        for formula in [
            "=HYPERLINK(\"http://evil.example\",\"click\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1:A9)",
            "\t=1+1",
            "\r=1+1",
            "-",
            "=",
        ] {
            assert_eq!(text(formula), format!("'{formula}"));
        }
        for kept in ["-1500", "+3", "-12.50", "1500", "hire", "", "a=b", "E-1"] {
            assert_eq!(text(kept), kept);
        }
    }

    proptest! {
        #[test]
        fn no_cell_starts_like_a_formula_unless_it_is_a_number(cell in "\\PC{0,12}") {
            let out = neutralise(cell.as_bytes());
            let risky = matches!(out.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
            prop_assert!(!risky || is_plain_number(&out), "{:?}", String::from_utf8_lossy(&out));
            // Nothing is lost: the cell is the original, or `'` + the original.
            prop_assert!(out.ends_with(cell.as_bytes()));
        }
    }
}
