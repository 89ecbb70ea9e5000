//! Formats of personal identifiers and of the other subject fields, as the
//! ID API checks them (create-document-process page, codes 20507, 20509,
//! 20019, 20008, 20021). Pure functions: no value is ever echoed.
//!
//! A local refusal needs a rule the page states; where it names a condition
//! without its rule (20509 "invalid characters", 20008 "not a valid
//! address"), only what is surely invalid under any reading is refused here,
//! and the rest is forwarded for the vendor to judge.

use time::{Date, macros::format_description};

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

/// An identifier value as it is sent: a CURP is upper-cased, since the
/// standard writes it in capitals only (its letters are initials and state
/// and consonant codes), so `gode561231hdfabc09` can only mean
/// `GODE561231HDFABC09`; refusing it would refuse a real CURP over its
/// spelling. Every other type is sent as given.
pub(super) fn normalized_code(dui_type: DuiType, code: &str) -> String {
    match dui_type {
        DuiType::MxCurp => code.to_ascii_uppercase(),
        _ => code.to_owned(),
    }
}

/// Checks an identifier value (after [`normalized_code`]) against the
/// standard format of its type: the vendor refuses a "non-standard" one
/// (20507).
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
        // Old DNI numbers have 6 digits; current ones 7 or 8.
        DuiType::ArDni => (6..=8).any(digits),
        DuiType::IdNik => digits(16),
    };
    ok.then_some(()).ok_or(CodeProblem::Malformed)
}

/// The expected shape, for the violation's description.
pub(super) fn code_shape(dui_type: DuiType) -> &'static str {
    match dui_type {
        DuiType::BrCpf => "a CPF is 11 digits with valid check digits",
        DuiType::MxCurp => {
            "a CURP is 18 characters: 4 letters, 6 digits, H, M or X, 5 letters, a letter or digit, a digit"
        }
        DuiType::UsSsn => "an SSN is 9 digits",
        DuiType::NgNin => "a NIN is 11 digits",
        DuiType::ArDni => "a DNI is 6 to 8 digits",
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
/// consonant letters, a disambiguation character, a check digit). The sex
/// marker is `H`, `M`, or `X` (non-binary, issued since 2023).
fn is_curp(code: &str) -> bool {
    let b = code.as_bytes();
    let upper = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_uppercase);
    let digit = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 18
        && upper(0..4)
        && digit(4..10)
        && matches!(b[10], b'H' | b'M' | b'X')
        && upper(11..16)
        && (b[16].is_ascii_uppercase() || b[16].is_ascii_digit())
        && digit(17..18)
}

/// The page says only that 20509 means "invalid characters", not which: a
/// name is refused here only for characters no name holds under any
/// reading, control characters and the markup brackets `<` `>`. Digits,
/// commas, every apostrophe (`'` `’` `‘` `´` `` ` ``) and any script go to
/// the vendor, which maps its own 20509. No length is stated, so none is
/// imposed (the request size limit bounds it).
pub(super) fn is_valid_name(name: &str) -> bool {
    !name
        .chars()
        .any(|c| c.is_control() || matches!(c, '<' | '>'))
}

/// `YYYY-MM-DD`, a real calendar date: all the page states (20019, "not
/// ISO 8601"). No bound on the date itself: "not in the future" would need a
/// time zone the page does not give (computed in UTC, it refuses a same-day
/// date east of UTC), and no earliest year is stated.
pub(super) fn is_valid_birth_date(value: &str) -> bool {
    let format = format_description!("[year]-[month]-[day]");
    value.len() == 10 && Date::parse(value, format).is_ok()
}

/// The page says only "not a valid address" (20008): refused here is what
/// no mail system delivers to, whatever else the vendor checks: no `@`, an
/// empty local part or domain, an empty domain label (`a@b..c`), whitespace
/// or control characters, or more than 254 characters (RFC 5321's limit).
/// A dotless or internationalised domain, a quoted local part and the like
/// are left to the vendor.
pub(super) fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.is_empty()
        && domain.split('.').all(|label| !label.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// E.164 (the page's form for `subject.phone`): an optional `+`, then 8 to
/// 15 digits, the first not 0 (no country code starts with 0). Returns the
/// digits, which is what is sent: the vendor's own examples and its 20021
/// rule ("country code + area code + number, 13 characters in all") are
/// digits only. The 13 is not enforced here: the vendor judges the length
/// and its 20021 is mapped.
pub(super) fn phone_digits(phone: &str) -> Option<&str> {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    ((8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0'))
    .then_some(digits)
}

#[cfg(test)]
mod tests {
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
            (DuiType::MxCurp, "GODE561231MDFABC09"),
            (DuiType::MxCurp, "GODE561231XDFABC09"),
            (DuiType::UsSsn, "123456789"),
            (DuiType::NgNin, "12345678901"),
            (DuiType::ArDni, "123456"),
            (DuiType::ArDni, "1234567"),
            (DuiType::ArDni, "12345678"),
            (DuiType::IdNik, "1234567890123456"),
        ];
        for (t, code) in ok {
            assert_eq!(check_code(t, code), Ok(()), "{t:?} {code}");
        }
        let bad = [
            (DuiType::MxCurp, "GODE561231ZDFABC09"),
            (DuiType::MxCurp, "GODE561231HDFABC0"),
            (DuiType::UsSsn, "12345678"),
            (DuiType::NgNin, "1234567890"),
            (DuiType::ArDni, "12345"),
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
    fn a_lower_case_curp_is_upper_cased_and_other_types_kept() {
        let curp = normalized_code(DuiType::MxCurp, "gode561231xdfabc09");
        assert_eq!(curp, "GODE561231XDFABC09");
        assert_eq!(check_code(DuiType::MxCurp, &curp), Ok(()));
        assert_eq!(normalized_code(DuiType::UsSsn, "123456789"), "123456789");
    }

    #[test]
    fn names_are_refused_only_for_control_characters_and_markup() {
        for name in [
            "Luke Skywalker",
            "João D'Ávila-Souza",
            "Zoë O’Neill Jr.",
            "Maria Sant´Anna",
            "Ana `Quote` ‘Single’",
            "Pedro II, Imperador",
            "R2-D2",
            "a_b",
            "李小龍",
            "Jose\u{301} Conceic\u{327}a\u{303}o",
            &"a".repeat(500),
        ] {
            assert!(is_valid_name(name), "{name}");
        }
        for name in ["<script>", "a>b", "Ana\tMaria", "Ana\u{0}", "Ana\nMaria"] {
            assert!(!is_valid_name(name), "{name:?}");
        }
    }

    #[test]
    fn birth_dates_are_real_calendar_dates_with_no_other_bound() {
        for ok in ["2000-05-20", "2000-02-29", "1850-01-01", "2999-12-31"] {
            assert!(is_valid_birth_date(ok), "{ok}");
        }
        for bad in [
            "2001-02-29",
            "2000-13-01",
            "2000-04-31",
            "20-05-2000",
            "2000/05/20",
            "2000-5-20",
            "2000-05-20T00:00:00Z",
        ] {
            assert!(!is_valid_birth_date(bad), "{bad}");
        }
    }

    #[test]
    fn emails_are_refused_only_when_surely_undeliverable() {
        for ok in [
            "a@example.com",
            "first.last+tag@sub.example.com.br",
            "a@b",
            "\"a@b\"@example.com",
            "jose@exemplo.com.br",
            "ana@münchen.de",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@exa mple.com",
            "a@b..com",
            "a@.com",
            "a\u{7}@b.com",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert!(!is_valid_email(&format!("{}@example.com", "a".repeat(250))));
    }

    #[test]
    fn phones_are_e164_digits_with_an_optional_plus() {
        for (given, sent) in [
            ("+5511999998888", "5511999998888"),
            ("5511999998888", "5511999998888"),
            ("+14155552671", "14155552671"),
            ("12345678", "12345678"),
            ("+551199999888877", "551199999888877"),
        ] {
            assert_eq!(phone_digits(given), Some(sent), "{given}");
        }
        for bad in [
            "+0511999998888",
            "+55 11 99999-8888",
            "(11) 99999-8888",
            "+1234567",
            "+1234567890123456",
            "++5511999998888",
            "",
        ] {
            assert_eq!(phone_digits(bad), None, "{bad}");
        }
    }
}
