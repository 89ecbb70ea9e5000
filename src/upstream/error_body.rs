//! Reads whatever the vendor sends with an error: every envelope seen across
//! its pages (see `shared/upstream/more-endpoints.md`), plain text from an API
//! gateway, HTML from a load balancer, an empty body, or garbage. Never fails.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::error::VendorCode;

/// The longest plain-text body taken as a message; longer text is a page,
/// not a message.
const MAX_TEXT_MESSAGE_CHARS: usize = 512;
/// Retry-After values beyond this are clamped: a hint, not a lock-out.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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
            .or_else(|| VendorCode::from_text(error));
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
        Value::String(s) => VendorCode::from_text(s),
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

/// The token endpoint puts its code at the end of a sentence: `… 1.2.5`.
fn dotted_code(description: &str) -> Option<VendorCode> {
    let last = description.split_whitespace().last()?;
    let last = last.trim_end_matches(['.', ')', ']']);
    let parts: Vec<&str> = last.split('.').collect();
    let dotted = parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    dotted.then(|| VendorCode::Text(last.to_owned()))
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
    fn odd_json_shapes_are_tolerated() {
        assert_eq!(
            parse(br#"{"code": "abc"}"#).code,
            Some(VendorCode::Text("abc".into()))
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
