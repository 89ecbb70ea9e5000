//! Formats of personal identifiers and of the other subject fields, as the
//! ID API checks them (create-document-process page, codes 20507, 20509,
//! 20019, 20008, 20021). Pure functions: no value is ever echoed.

use time::{Date, OffsetDateTime, macros::format_description};

use super::FORMATTING_SYMBOLS;
use crate::domain::DuiType;

/// Why an identifier is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeProblem {
    /// Dots, dashes, spaces…: the vendor wants the bare value.
    Formatted,
    /// Not the documented shape for its type (or wrong check digits).
    Malformed,
}

/// Checks an identifier value against the format of its type.
pub(super) fn check_code(dui_type: DuiType, code: &str) -> Result<(), CodeProblem> {
    if code.contains(FORMATTING_SYMBOLS) {
        return Err(CodeProblem::Formatted);
    }
    let digits = |n: usize| code.len() == n && code.bytes().all(|b| b.is_ascii_digit());
    let ok = match dui_type {
        DuiType::BrCpf => digits(11) && cpf_check_digits_hold(code),
        DuiType::MxCurp => is_curp(code),
        DuiType::UsSsn => digits(9),
        DuiType::NgNin => digits(11),
        DuiType::ArDni => digits(7) || digits(8),
        DuiType::IdNik => digits(16),
    };
    ok.then_some(()).ok_or(CodeProblem::Malformed)
}

/// The expected shape, for the violation's description.
pub(super) fn code_shape(dui_type: DuiType) -> &'static str {
    match dui_type {
        DuiType::BrCpf => "a CPF is 11 digits with valid check digits",
        DuiType::MxCurp => {
            "a CURP is 18 characters: 4 letters, 6 digits, H or M, 5 letters, a letter or digit, a digit"
        }
        DuiType::UsSsn => "an SSN is 9 digits",
        DuiType::NgNin => "a NIN is 11 digits",
        DuiType::ArDni => "a DNI is 7 or 8 digits",
        DuiType::IdNik => "a NIK is 16 digits",
    }
}

/// CPF: two mod-11 check digits; a run of one repeated digit passes the
/// arithmetic but is not a real CPF.
fn cpf_check_digits_hold(cpf: &str) -> bool {
    let d: Vec<u32> = cpf.bytes().map(|b| u32::from(b - b'0')).collect();
    if d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |len: usize| {
        let sum: u32 = d[..len]
            .iter()
            .zip((2..=len as u32 + 1).rev())
            .map(|(digit, weight)| digit * weight)
            .sum();
        let rest = (sum * 10) % 11;
        if rest == 10 { 0 } else { rest }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// CURP: `AAAA999999HAAAAA?9` (letters, birth date digits, sex, state and
/// consonant letters, a disambiguation character, a check digit).
fn is_curp(code: &str) -> bool {
    let b = code.as_bytes();
    let upper = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_uppercase);
    let digit = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 18
        && upper(0..4)
        && digit(4..10)
        && matches!(b[10], b'H' | b'M')
        && upper(11..16)
        && (b[16].is_ascii_uppercase() || b[16].is_ascii_digit())
        && digit(17..18)
}

/// The longest name accepted; longer is not a person's name.
pub(super) const NAME_MAX_CHARS: usize = 200;

/// Letters of any script, accents included whether precomposed (`é`) or
/// combining (`e` + U+0301, as macOS and some keyboards send them), spaces,
/// apostrophes, hyphens and dots, with at least one letter.
pub(super) fn is_valid_name(name: &str) -> bool {
    name.chars().count() <= NAME_MAX_CHARS
        && name.chars().any(char::is_alphabetic)
        && name.chars().all(|c| {
            c.is_alphabetic() || is_combining_mark(c) || matches!(c, ' ' | '\'' | '’' | '-' | '.')
        })
}

/// The Unicode blocks of combining diacritical marks.
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// `YYYY-MM-DD`, a real calendar date, not after `today`.
pub(super) fn is_valid_birth_date(value: &str, today: Date) -> bool {
    let format = format_description!("[year]-[month]-[day]");
    value.len() == 10
        && Date::parse(value, format).is_ok_and(|date| date <= today && date.year() >= 1900)
}

/// Today's date (UTC), the bound for birth dates.
pub(super) fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain of
/// letters, digits and hyphens; no spaces; at most 254 characters.
pub(super) fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !local.contains(|c: char| c.is_whitespace() || c == '@' || c.is_control())
        && domain.contains('.')
        && domain.split('.').all(label_ok)
}

/// E.164: `+`, a non-zero country digit, 8 to 15 digits in all.
pub(super) fn is_valid_phone(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn cpf_needs_valid_check_digits() {
        for valid in ["52998224725", "11144477735", "12345678909"] {
            assert_eq!(check_code(DuiType::BrCpf, valid), Ok(()), "{valid}");
        }
        for malformed in [
            "52998224724",
            "11111111111",
            "5299822472",
            "529982247250",
            "5299822472a",
        ] {
            assert_eq!(
                check_code(DuiType::BrCpf, malformed),
                Err(CodeProblem::Malformed),
                "{malformed}"
            );
        }
        assert_eq!(
            check_code(DuiType::BrCpf, "529.982.247-25"),
            Err(CodeProblem::Formatted)
        );
    }

    #[test]
    fn each_type_has_its_shape() {
        let ok = [
            (DuiType::MxCurp, "GODE561231HDFABC09"),
            (DuiType::UsSsn, "123456789"),
            (DuiType::NgNin, "12345678901"),
            (DuiType::ArDni, "1234567"),
            (DuiType::ArDni, "12345678"),
            (DuiType::IdNik, "1234567890123456"),
        ];
        for (t, code) in ok {
            assert_eq!(check_code(t, code), Ok(()), "{t:?} {code}");
        }
        let bad = [
            (DuiType::MxCurp, "GODE561231XDFABC09"),
            (DuiType::MxCurp, "gode561231hdfabc09"),
            (DuiType::UsSsn, "12345678"),
            (DuiType::NgNin, "1234567890"),
            (DuiType::ArDni, "123456"),
            (DuiType::ArDni, "123456789"),
            (DuiType::IdNik, "123456789012345"),
        ];
        for (t, code) in bad {
            assert_eq!(
                check_code(t, code),
                Err(CodeProblem::Malformed),
                "{t:?} {code}"
            );
        }
        assert_eq!(
            check_code(DuiType::UsSsn, "123-45-6789"),
            Err(CodeProblem::Formatted)
        );
    }

    #[test]
    fn names_allow_accents_apostrophes_and_hyphens() {
        for name in [
            "Luke Skywalker",
            "João D'Ávila-Souza",
            "Zoë O’Neill Jr.",
            "李小龍",
            "Jose\u{301} Conceic\u{327}a\u{303}o",
        ] {
            assert!(is_valid_name(name), "{name}");
        }
        for name in [
            "R2-D2",
            "<script>",
            "name@x",
            "   ",
            "a_b",
            "\u{301}",
            &"a".repeat(201),
        ] {
            assert!(!is_valid_name(name), "{name}");
        }
    }

    #[test]
    fn birth_dates_are_real_and_not_in_the_future() {
        let today = date!(2026 - 11 - 23);
        for ok in ["2000-05-20", "2000-02-29", "2026-11-23"] {
            assert!(is_valid_birth_date(ok, today), "{ok}");
        }
        for bad in [
            "2001-02-29",
            "2000-13-01",
            "2000-04-31",
            "20-05-2000",
            "2000/05/20",
            "2026-11-24",
            "2000-5-20",
            "1850-01-01",
        ] {
            assert!(!is_valid_birth_date(bad, today), "{bad}");
        }
    }

    #[test]
    fn emails_and_phones() {
        for ok in ["a@example.com", "first.last+tag@sub.example.com.br"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a@@b.com",
            "a@-b.com",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        for ok in ["+5511999998888", "+14155552671", "+12345678"] {
            assert!(is_valid_phone(ok), "{ok}");
        }
        for bad in [
            "5511999998888",
            "+0511999998888",
            "+55 11 99999-8888",
            "+1234567",
            "+1234567890123456",
        ] {
            assert!(!is_valid_phone(bad), "{bad}");
        }
    }
}
