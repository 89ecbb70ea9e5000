//! The field checks of the ID API's create document process: identifier formats (CPF check
//! digits, CURP layout…), subject fields, and document images. Pure predicates: the endpoint maps
//! each failure to its vendor code.
//!
//! Written from the vendor's page, never from the facade: where the page states a rule
//! (identifiers of a "standard" format, `M`/`F`, `YYYY-MM-DD`, the phone's 13 characters, the
//! images) it is checked here; where it names a condition without its rule ("invalid
//! characters" in a name, "not a valid address"), the emulator refuses only what cannot be that
//! value under any reading, and accepts the rest, as the vendor might.

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
        // The standard DNI: 7 or 8 digits today, 6 for the oldest numbers still valid.
        DUI_TYPE_AR_DNI => is_digits(code, 6, 8),
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

/// `^[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d$`: the standard CURP, capitals only, whose sex
/// marker is `H`, `M` or (since 2023) `X`.
fn is_curp(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 18
        && b.iter().enumerate().all(|(i, c)| match i {
            0..=3 | 11..=15 => c.is_ascii_uppercase(),
            4..=9 | 17 => c.is_ascii_digit(),
            10 => matches!(c, b'H' | b'M' | b'X'),
            _ => c.is_ascii_uppercase() || c.is_ascii_digit(),
        })
}

/// The page says 20509 means "invalid characters" but names no set: the emulator refuses only
/// control characters, which no name holds under any reading, and accepts every other name.
pub(super) fn is_valid_name(name: &str) -> bool {
    !name.chars().any(char::is_control)
}

pub(super) fn is_valid_gender(gender: &str) -> bool {
    matches!(gender, "M" | "F")
}

/// A real calendar date written `YYYY-MM-DD` (the page: "not ISO 8601 (`YYYY-MM-DD`)"). The
/// page states no other bound (no earliest year, nothing about the future), so none is checked.
pub(super) fn is_valid_birth_date(text: &str) -> bool {
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
    year >= 1 && (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day)
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

/// The page says only "not a valid address" (20008). The emulator refuses what cannot be an
/// address at all: no `@` between a non-empty local part and domain, or whitespace.
pub(super) fn is_plausible_email(email: &str) -> bool {
    email
        .rsplit_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace)
}

/// The page's 20021 rule: "country code + area code + number, 13 characters in all", digits
/// (as in the vendor's examples). A `+` is a fourteenth character.
pub(super) fn is_valid_phone(phone: &str) -> bool {
    is_digits(phone, 13, 13)
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
            (DUI_TYPE_MX_CURP, "GODE561231XDFRRN09", true),
            (DUI_TYPE_MX_CURP, "GODE561231ZDFRRN09", false),
            (DUI_TYPE_MX_CURP, "gode561231HDFRRN09", false),
            (DUI_TYPE_MX_CURP, "GODE561231HDFRRNA9", true),
            (DUI_TYPE_MX_CURP, "GODE561231HDFRRN0A", false),
            (DUI_TYPE_US_SSN, "123456789", true),
            (DUI_TYPE_US_SSN, "123-45-6789", false),
            (DUI_TYPE_NG_NIN, "12345678901", true),
            (DUI_TYPE_AR_DNI, "123456", true),
            (DUI_TYPE_AR_DNI, "1234567", true),
            (DUI_TYPE_AR_DNI, "12345678", true),
            (DUI_TYPE_AR_DNI, "12345", false),
            (DUI_TYPE_ID_NIK, "1234567890123456", true),
            (DUI_TYPE_ID_NIK, "123456789012345", false),
            ("DUI_TYPE_XX_OTHER", "123", false),
        ];
        for (dui_type, code, expected) in cases {
            assert_eq!(is_valid_code(dui_type, code), expected, "{dui_type} {code}");
        }
    }

    #[test]
    fn names_are_refused_only_for_control_characters() {
        for valid in [
            "Luke Skywalker",
            "Maria Sant´Anna",
            "R2-D2",
            "Pedro II, Imperador",
            "Ana_Maria",
            "<b>",
            "",
        ] {
            assert!(is_valid_name(valid), "{valid}");
        }
        for invalid in ["Ana\tMaria", "Ana\u{0}"] {
            assert!(!is_valid_name(invalid), "{invalid:?}");
        }
    }

    #[test]
    fn birth_dates_are_real_calendar_dates() {
        for valid in [
            "2000-05-20",
            "2000-02-29",
            "1900-01-01",
            "1850-01-01",
            "2999-01-01",
        ] {
            assert!(is_valid_birth_date(valid), "{valid}");
        }
        for invalid in [
            "1900-02-29",
            "2000-13-01",
            "2000-04-31",
            "20000520",
            "2000-5-20",
            "2000-05-20T00:00:00Z",
            "+200-05-20",
            "0000-01-01",
            "",
        ] {
            assert!(!is_valid_birth_date(invalid), "{invalid}");
        }
    }

    #[test]
    fn emails_need_only_an_at_between_two_parts_and_phones_13_digits() {
        for valid in [
            "luke@rebellion.org",
            "a.b+tag@sub.example.com.br",
            "luke@rebellion",
        ] {
            assert!(is_plausible_email(valid), "{valid}");
        }
        for invalid in ["luke", "luke@", "@rebellion.org", "lu ke@rebellion.org"] {
            assert!(!is_plausible_email(invalid), "{invalid}");
        }
        assert!(is_valid_phone("5511987654321"));
        for invalid in [
            "+5511987654321",
            "551198765432",
            "55119876543210",
            "+55 11 98765-4321",
        ] {
            assert!(!is_valid_phone(invalid), "{invalid}");
        }
    }
}
