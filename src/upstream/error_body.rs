//! Reads whatever the vendor sends with an error: every envelope seen across
//! its pages (see `shared/upstream/more-endpoints.md`), plain text from an API
//! gateway, HTML from a load balancer, an empty body, or garbage. Never fails.
//!
//! The code read here travels far (ErrorInfo metadata, the call's log line,
//! span attributes), so only what is a code by its shape is kept: a number,
//! a dotted code (`1.2.5`) or a word code (letters joined by underscores:
//! OAuth's `invalid_grant`, `process_not_found`). Any other text (a vendor
//! echoing input: `{"code":"Luke 52998224725"}`) becomes
//! [`UNRECOGNIZED_TEXT_CODE`]; the raw body stays in the masked debug excerpt.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::error::VendorCode;

/// The longest plain-text body taken as a message; longer text is a page,
/// not a message.
const MAX_TEXT_MESSAGE_CHARS: usize = 512;
/// Retry-After values beyond this are clamped: a hint, not a lock-out.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The code kept for a text code that is neither a number, a dotted code
/// nor a word code.
pub const UNRECOGNIZED_TEXT_CODE: &str = "unrecognized-text";
/// The longest dotted code kept (the token endpoint's are like `1.2.18`).
const MAX_DOTTED_CODE_CHARS: usize = 32;
/// The longest run of digits taken as a numeric code (always fits an i64).
const MAX_NUMERIC_CODE_DIGITS: usize = 18;
/// The longest word code kept (`invalid_grant`, `process_not_found`).
const MAX_WORD_CODE_CHARS: usize = 48;

/// What could be read from an error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedErrorBody {
    pub code: Option<VendorCode>,
    pub message: Option<String>,
}

/// Parses an error body, trying the envelopes in the documented order.
pub fn parse(body: &[u8]) -> ParsedErrorBody {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return ParsedErrorBody::default();
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(object)) => parse_object(&object),
        Ok(_) => ParsedErrorBody::default(),
        Err(_) => parse_text(trimmed),
    }
}

fn parse_object(object: &Map<String, Value>) -> ParsedErrorBody {
    // 1. gRPC-gateway: {"code": 3, "message": "…", "details": []}
    if let Some(code) = object.get("code").and_then(code_of) {
        return ParsedErrorBody {
            code: Some(code),
            message: text_field(object, &["message", "description"]),
        };
    }
    // 2. and 3. {"error": {"code": …, "message"|"description": …}}, any capitalisation.
    for key in ["error", "Error"] {
        if let Some(Value::Object(inner)) = object.get(key) {
            return ParsedErrorBody {
                code: inner.get("code").and_then(code_of),
                message: text_field(inner, &["message", "description"]),
            };
        }
    }
    // 4. OAuth: {"error": "server_error", "error_description": "Falha na autenticação 1.2.5"}
    if let Some(Value::String(error)) = object.get("error") {
        let description = text_field(object, &["error_description"]);
        let code = description
            .as_deref()
            .and_then(dotted_code)
            .or_else(|| code_from_text(error));
        return ParsedErrorBody {
            code,
            message: description.or_else(|| Some(error.clone())),
        };
    }
    ParsedErrorBody {
        code: None,
        message: text_field(object, &["message", "description"]),
    }
}

/// Envelope 5: plain text is a message (an API gateway's `Jwt is expired`);
/// HTML is a load balancer's page and says nothing the status does not.
fn parse_text(text: &str) -> ParsedErrorBody {
    let looks_like_markup = text.starts_with('<');
    let too_long = text.chars().count() > MAX_TEXT_MESSAGE_CHARS;
    let message = (!looks_like_markup && !too_long).then(|| text.to_owned());
    ParsedErrorBody {
        code: None,
        message,
    }
}

fn code_of(value: &Value) -> Option<VendorCode> {
    match value {
        Value::Number(n) => n.as_i64().map(VendorCode::Number),
        Value::String(s) => code_from_text(s),
        _ => None,
    }
}

fn text_field(object: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| object.get(*key).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A code sent as text, kept only when it has the shape of a code: `"20068"`
/// is the number 20068, `1.2.5` and word codes stay text, anything else is
/// [`UNRECOGNIZED_TEXT_CODE`]. Blank is no code at all.
pub fn code_from_text(text: &str) -> Option<VendorCode> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(text)
        && text.len() <= MAX_NUMERIC_CODE_DIGITS
        && let Ok(number) = text.parse()
    {
        return Some(VendorCode::Number(number));
    }
    let kept = is_dotted_code(text) || is_word_code(text);
    Some(VendorCode::Text(
        if kept { text } else { UNRECOGNIZED_TEXT_CODE }.to_owned(),
    ))
}

/// `1.2.5`: at least two dot-separated runs of digits, bounded in length.
fn is_dotted_code(text: &str) -> bool {
    text.len() <= MAX_DOTTED_CODE_CHARS
        && text.split('.').count() >= 2
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `invalid_grant`, `PROCESS_GONE`: ASCII letters in at least two words
/// joined by single underscores, bounded in length. No digits, no spaces:
/// a name, an e-mail or an identifier never has this shape.
fn is_word_code(text: &str) -> bool {
    text.len() <= MAX_WORD_CODE_CHARS
        && text.split('_').count() >= 2
        && text
            .split('_')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// The token endpoint puts its code at the end of a sentence: `… 1.2.5`.
fn dotted_code(description: &str) -> Option<VendorCode> {
    let last = description.split_whitespace().last()?;
    let last = last.trim_end_matches(['.', ')', ']']);
    is_dotted_code(last).then(|| VendorCode::Text(last.to_owned()))
}

/// Reads a `Retry-After` header: delta-seconds or an HTTP-date.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(code: Option<VendorCode>, message: Option<&str>) -> ParsedErrorBody {
        ParsedErrorBody {
            code,
            message: message.map(str::to_owned),
        }
    }

    #[test]
    fn grpc_gateway_envelope() {
        let body = br#"{"code": 9, "message": "process expired", "details": []}"#;
        assert_eq!(
            parse(body),
            parsed(Some(VendorCode::Number(9)), Some("process expired"))
        );
    }

    #[test]
    fn id_api_envelope_with_numeric_or_string_code() {
        let body = r#"{"error": {"code": 20068, "message": "The document.documentId or document.files parameter must be present."}}"#;
        assert_eq!(
            parse(body.as_bytes()),
            parsed(
                Some(VendorCode::Number(20068)),
                Some("The document.documentId or document.files parameter must be present.")
            )
        );
        let body = r#"{"error": {"code": "20005", "description": "O parâmetro subject.code não foi informado."}}"#;
        assert_eq!(
            parse(body.as_bytes()),
            parsed(
                Some(VendorCode::Number(20005)),
                Some("O parâmetro subject.code não foi informado.")
            )
        );
    }

    #[test]
    fn legacy_capitalised_envelope() {
        let body = br#"{"Error": {"code": "10201", "description": "O AppKey informado \u00e9 inv\u00e1lido."}}"#;
        assert_eq!(
            parse(body),
            parsed(
                Some(VendorCode::Number(10201)),
                Some("O AppKey informado é inválido.")
            )
        );
    }

    #[test]
    fn token_endpoint_envelope_takes_the_dotted_code_from_the_description() {
        let body = r#"{"error":"server_error","error_description":"Falha na autenticação 1.2.5"}"#;
        assert_eq!(
            parse(body.as_bytes()),
            parsed(
                Some(VendorCode::Text("1.2.5".into())),
                Some("Falha na autenticação 1.2.5")
            )
        );
        let body = br#"{"error":"invalid_grant"}"#;
        assert_eq!(
            parse(body),
            parsed(
                Some(VendorCode::Text("invalid_grant".into())),
                Some("invalid_grant")
            )
        );
    }

    #[test]
    fn plain_text_from_a_gateway_is_the_message() {
        assert_eq!(
            parse(b"Jwt is expired"),
            parsed(None, Some("Jwt is expired"))
        );
        assert_eq!(
            parse(b"Jwt header is an invalid JSON\n"),
            parsed(None, Some("Jwt header is an invalid JSON"))
        );
    }

    #[test]
    fn html_empty_truncated_and_huge_bodies_yield_nothing_but_never_fail() {
        let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        assert_eq!(parse(html), ParsedErrorBody::default());
        assert_eq!(parse(b""), ParsedErrorBody::default());
        assert_eq!(parse(b"  \r\n"), ParsedErrorBody::default());
        assert_eq!(parse(b"[1,2,3]"), ParsedErrorBody::default());
        assert_eq!(parse(b"null"), ParsedErrorBody::default());
        let truncated = br#"{"code": 3, "message": "dui_va"#;
        assert_eq!(parse(truncated).code, None);
        let huge = vec![b'x'; 5 * 1024 * 1024];
        assert_eq!(parse(&huge), ParsedErrorBody::default());
        let not_utf8 = [0xff, 0xfe, 0x00, 0x41];
        assert_eq!(parse(&not_utf8).code, None);
    }

    #[test]
    fn a_text_code_is_kept_only_when_it_has_the_shape_of_a_code() {
        let text = |s: &str| Some(VendorCode::Text(s.to_owned()));
        let unrecognized = text(UNRECOGNIZED_TEXT_CODE);
        assert_eq!(
            parse(br#"{"code": " 20068 "}"#).code,
            Some(VendorCode::Number(20068))
        );
        assert_eq!(parse(br#"{"code": "1.2.18"}"#).code, text("1.2.18"));
        assert_eq!(
            parse(br#"{"error": {"code": "1.0.14"}}"#).code,
            text("1.0.14")
        );
        assert_eq!(
            parse(br#"{"error": "invalid_client"}"#).code,
            text("invalid_client")
        );
        assert_eq!(
            parse(br#"{"error": {"code": "process_gone"}}"#).code,
            text("process_gone")
        );
        assert_eq!(
            parse(br#"{"code": "PROCESS_NOT_FOUND"}"#).code,
            text("PROCESS_NOT_FOUND")
        );
        for echoed in [
            r#"{"code": "Luke Skywalker 52998224725"}"#,
            r#"{"code": "luke"}"#,
            r#"{"code": "code_52998224725"}"#,
            r#"{"code": "a__b"}"#,
            r#"{"code": "_a_b"}"#,
            r#"{"error": "Luke Skywalker 52998224725"}"#,
            r#"{"error": {"code": "luke@example.com"}}"#,
            r#"{"code": "abc"}"#,
            r#"{"code": "-5"}"#,
            r#"{"code": "+5"}"#,
            r#"{"code": "1..2"}"#,
            r#"{"code": "1.2."}"#,
            r#"{"code": "1234567890123456789"}"#,
        ] {
            assert_eq!(parse(echoed.as_bytes()).code, unrecognized, "{echoed}");
        }
        let long_dotted = format!(r#"{{"code": "{}1"}}"#, "1.".repeat(40));
        assert_eq!(parse(long_dotted.as_bytes()).code, unrecognized);
        let huge = format!(r#"{{"code": "{}"}}"#, "x".repeat(60 * 1024));
        assert_eq!(parse(huge.as_bytes()).code, unrecognized);
        // A dotted code at the end of a long description is bounded too.
        let description = format!(
            r#"{{"error":"server_error","error_description":"Falha {}1"}}"#,
            "1.".repeat(40)
        );
        assert_eq!(parse(description.as_bytes()).code, text("server_error"));
    }

    #[test]
    fn odd_json_shapes_are_tolerated() {
        assert_eq!(
            parse(br#"{"code": "abc"}"#).code,
            Some(VendorCode::Text(UNRECOGNIZED_TEXT_CODE.into()))
        );
        assert_eq!(
            parse(br#"{"code": 1.5, "message": "m"}"#),
            parsed(None, Some("m"))
        );
        assert_eq!(parse(br#"{"error": 42}"#), ParsedErrorBody::default());
        assert_eq!(parse(br#"{"message": "only"}"#), parsed(None, Some("only")));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after("2", now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }
}
