//! The field checks of the ID API's create document process: identifier formats (CPF check
//! digits, CURP layout…), subject fields, and document images. Pure predicates: the endpoint maps
//! each failure to its vendor code.
//!
//! The vendor's page names the conditions ("format non-standard or does not exist", "not ISO
//! 8601", "not a valid address") but not the rules; the rules here are the usual public ones and
//! are emulator assumptions where the page is silent.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

pub(super) const DUI_TYPE_BR_CPF: &str = "DUI_TYPE_BR_CPF";
pub(super) const DUI_TYPE_MX_CURP: &str = "DUI_TYPE_MX_CURP";
pub(super) const DUI_TYPE_US_SSN: &str = "DUI_TYPE_US_SSN";
pub(super) const DUI_TYPE_NG_NIN: &str = "DUI_TYPE_NG_NIN";
pub(super) const DUI_TYPE_AR_DNI: &str = "DUI_TYPE_AR_DNI";
pub(super) const DUI_TYPE_ID_NIK: &str = "DUI_TYPE_ID_NIK";

/// Whether `code` is a well-formed identifier of `dui_type`, written without formatting symbols.
/// An unknown `dui_type` has no well-formed codes.
pub(super) fn is_valid_code(dui_type: &str, code: &str) -> bool {
    match dui_type {
        DUI_TYPE_BR_CPF => is_valid_cpf(code),
        DUI_TYPE_MX_CURP => is_curp(code),
        DUI_TYPE_US_SSN => is_digits(code, 9, 9),
        DUI_TYPE_NG_NIN => is_digits(code, 11, 11),
        DUI_TYPE_AR_DNI => is_digits(code, 7, 8),
        DUI_TYPE_ID_NIK => is_digits(code, 16, 16),
        _ => false,
    }
}

fn is_digits(code: &str, min_len: usize, max_len: usize) -> bool {
    (min_len..=max_len).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

/// Eleven digits whose two check digits are right. Numbers of one repeated digit pass the
/// arithmetic but are never issued ("does not exist"), so they fail too.
pub(super) fn is_valid_cpf(code: &str) -> bool {
    if !is_digits(code, 11, 11) {
        return false;
    }
    let digits: Vec<usize> = code.bytes().map(|b| usize::from(b - b'0')).collect();
    if digits.iter().all(|d| Some(d) == digits.first()) {
        return false;
    }
    // Check digit n follows the first n digits, weighted n+1 down to 2.
    let check_digit = |n: usize| {
        let sum: usize = digits
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, d)| d * (n + 1 - i))
            .sum();
        sum * 10 % 11 % 10
    };
    digits.get(9) == Some(&check_digit(9)) && digits.get(10) == Some(&check_digit(10))
}

/// `^[A-Z]{4}\d{6}[HM][A-Z]{5}[A-Z0-9]\d$`
fn is_curp(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 18
        && b.iter().enumerate().all(|(i, c)| match i {
            0..=3 | 11..=15 => c.is_ascii_uppercase(),
            4..=9 | 17 => c.is_ascii_digit(),
            10 => matches!(c, b'H' | b'M'),
            _ => c.is_ascii_uppercase() || c.is_ascii_digit(),
        })
}

/// Letters of any script (accents too, precomposed or combining), spaces, apostrophes, hyphens
/// and dots, with at least one letter.
pub(super) fn is_valid_name(name: &str) -> bool {
    const COMBINING_DIACRITICS: std::ops::RangeInclusive<char> = '\u{300}'..='\u{36F}';
    name.chars().any(char::is_alphabetic)
        && name.chars().all(|c| {
            c.is_alphabetic()
                || matches!(c, ' ' | '\'' | '\u{2019}' | '-' | '.')
                || COMBINING_DIACRITICS.contains(&c)
        })
}

pub(super) fn is_valid_gender(gender: &str) -> bool {
    matches!(gender, "M" | "F")
}

/// A real calendar date written `YYYY-MM-DD`, not after `today`.
pub(super) fn is_valid_birth_date(text: &str, today: CivilDate) -> bool {
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (number(y), number(m), number(d)) else {
        return false;
    };
    let date = CivilDate { year, month, day };
    year >= 1
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && date <= today
}

fn number(text: &str) -> Option<u32> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A date of the proleptic Gregorian calendar; ordered by year, month, day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CivilDate {
    pub(super) year: u32,
    pub(super) month: u32,
    pub(super) day: u32,
}

impl CivilDate {
    /// Today in UTC.
    pub(super) fn today() -> CivilDate {
        let days = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        Self::from_unix_days(days)
    }

    /// Howard Hinnant's `civil_from_days`, for days on or after 1970-01-01.
    fn from_unix_days(days: u64) -> CivilDate {
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        CivilDate {
            year: u32::try_from(year).unwrap_or(u32::MAX),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }
}

/// One `@`, a local part without stray dots, a domain of at least two labels with a TLD of two
/// or more characters; no spaces or control characters.
pub(super) fn is_plausible_email(email: &str) -> bool {
    const LOCAL_SYMBOLS: &str = "!#$%&'*+/=?^_`{|}~.-";
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || LOCAL_SYMBOLS.contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| tld.chars().count() >= 2);
    email.len() <= 254 && local_ok && domain_ok
}

/// E.164: `+` then 8 to 15 digits.
pub(super) fn is_e164(phone: &str) -> bool {
    phone
        .strip_prefix('+')
        .is_some_and(|digits| is_digits(digits, 8, 15))
}

/// Why a base64 document image is refused, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ImageProblem {
    /// Not base64 (standard alphabet, padding optional).
    NotBase64,
    /// Decoded, larger than the limit.
    TooLarge,
    /// Not PNG, JPEG or WebP by its magic bytes.
    Unsupported,
    /// Claims a supported format but its header cannot be read.
    Undecodable,
    /// Under 640 × 480 (either orientation).
    TooSmall,
}

pub(super) fn inspect_image(data: &str, max_bytes: usize) -> Result<(), ImageProblem> {
    let bytes = STANDARD_PAD_INDIFFERENT
        .decode(data)
        .map_err(|_| ImageProblem::NotBase64)?;
    if bytes.len() > max_bytes {
        return Err(ImageProblem::TooLarge);
    }
    if !is_png(&bytes) && !is_jpeg(&bytes) && !is_webp(&bytes) {
        return Err(ImageProblem::Unsupported);
    }
    let size = imagesize::blob_size(&bytes).map_err(|_| ImageProblem::Undecodable)?;
    let (short, long) = (size.width.min(size.height), size.width.max(size.height));
    if short < 480 || long < 640 {
        return Err(ImageProblem::TooSmall);
    }
    Ok(())
}

fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

fn is_webp(bytes: &[u8]) -> bool {
    bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpf_needs_eleven_digits_and_right_check_digits() {
        for valid in ["52998224725", "12345678909", "11144477735"] {
            assert!(is_valid_cpf(valid), "{valid}");
        }
        for invalid in [
            "52998224724",
            "12345678900",
            "11111111111",
            "529.982.247-25",
            "5299822472",
            "529982247250",
            "",
            "5299822472a",
        ] {
            assert!(!is_valid_cpf(invalid), "{invalid}");
        }
    }

    #[test]
    fn identifier_formats_follow_their_type() {
        let cases = [
            (DUI_TYPE_MX_CURP, "GODE561231HDFRRN09", true),
            (DUI_TYPE_MX_CURP, "GODE561231XDFRRN09", false),
            (DUI_TYPE_MX_CURP, "gode561231HDFRRN09", false),
            (DUI_TYPE_MX_CURP, "GODE561231HDFRRNA9", true),
            (DUI_TYPE_MX_CURP, "GODE561231HDFRRN0A", false),
            (DUI_TYPE_US_SSN, "123456789", true),
            (DUI_TYPE_US_SSN, "123-45-6789", false),
            (DUI_TYPE_NG_NIN, "12345678901", true),
            (DUI_TYPE_AR_DNI, "1234567", true),
            (DUI_TYPE_AR_DNI, "12345678", true),
            (DUI_TYPE_AR_DNI, "123456", false),
            (DUI_TYPE_ID_NIK, "1234567890123456", true),
            (DUI_TYPE_ID_NIK, "123456789012345", false),
            ("DUI_TYPE_XX_OTHER", "123", false),
        ];
        for (dui_type, code, expected) in cases {
            assert_eq!(is_valid_code(dui_type, code), expected, "{dui_type} {code}");
        }
    }

    #[test]
    fn names_are_letters_of_any_script_with_a_few_marks() {
        for valid in [
            "Luke Skywalker",
            "José da Conceição",
            "Jose\u{301} Neto",
            "D'Ávila-Souza Jr.",
            "Zoë",
        ] {
            assert!(is_valid_name(valid), "{valid}");
        }
        for invalid in ["", "  ", "R2-D2", "Ana_Maria", "Ana\tMaria", "<script>"] {
            assert!(!is_valid_name(invalid), "{invalid}");
        }
    }

    #[test]
    fn birth_dates_are_real_past_calendar_dates() {
        let today = CivilDate {
            year: 2026,
            month: 3,
            day: 15,
        };
        for valid in ["2000-05-20", "2000-02-29", "2026-03-15", "1900-01-01"] {
            assert!(is_valid_birth_date(valid, today), "{valid}");
        }
        for invalid in [
            "1900-02-29",
            "2000-13-01",
            "2000-04-31",
            "2026-03-16",
            "20000520",
            "2000-5-20",
            "2000-05-20T00:00:00Z",
            "+200-05-20",
            "0000-01-01",
            "",
        ] {
            assert!(!is_valid_birth_date(invalid, today), "{invalid}");
        }
    }

    #[test]
    fn unix_days_become_civil_dates() {
        let at = |days| CivilDate::from_unix_days(days);
        assert_eq!(
            at(0),
            CivilDate {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        assert_eq!(
            at(11_016),
            CivilDate {
                year: 2000,
                month: 2,
                day: 29
            }
        );
        assert_eq!(
            at(20_454),
            CivilDate {
                year: 2026,
                month: 1,
                day: 1
            }
        );
    }

    #[test]
    fn emails_and_phones_have_plausible_shapes() {
        for valid in ["luke@rebellion.org", "a.b+tag@sub.example.com.br"] {
            assert!(is_plausible_email(valid), "{valid}");
        }
        for invalid in [
            "luke",
            "luke@",
            "@rebellion.org",
            "luke@rebellion",
            "luke@@rebellion.org",
            "lu ke@rebellion.org",
            "luke@rebellion..org",
            ".luke@rebellion.org",
            "luke@rebellion.o",
        ] {
            assert!(!is_plausible_email(invalid), "{invalid}");
        }
        assert!(is_e164("+5511987654321"));
        for invalid in [
            "5511987654321",
            "+55 11 98765-4321",
            "+1234567",
            "+1234567890123456",
        ] {
            assert!(!is_e164(invalid), "{invalid}");
        }
    }
}
