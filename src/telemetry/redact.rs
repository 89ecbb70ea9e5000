//! Making outside text safe to log. An upstream error body may echo what
//! the caller sent (a name, a CPF): it is logged only as its *shape*, with
//! keys, small numbers (codes) and the vendor's documented messages kept, and
//! every other value replaced by its length. Free text is masked word by
//! word where a shape cannot be had.

use serde_json::Value;

/// The longest logged excerpt.
const MAX_CHARS: usize = 400;
/// Integers below this are codes, not identifiers.
const MAX_PLAIN_NUMBER: u64 = 1_000_000;

/// The shape of a body: JSON with unknown strings replaced by `<N chars>`,
/// or a description of non-JSON text. `known` says whether a string is a
/// documented vendor message, which is kept.
pub fn body_shape(body: &str, known: impl Fn(&str) -> bool) -> String {
    let trimmed = body.trim();
    let shaped = match serde_json::from_str::<Value>(trimmed) {
        Ok(value) => shape(&value, &known).to_string(),
        Err(_) if trimmed.is_empty() => "<empty>".to_owned(),
        Err(_) if known(trimmed) => trimmed.to_owned(),
        Err(_) if trimmed.starts_with('<') => format!("<markup, {} bytes>", trimmed.len()),
        Err(_) => format!("<text, {} bytes>", trimmed.len()),
    };
    cut(shaped)
}

fn shape(value: &Value, known: &impl Fn(&str) -> bool) -> Value {
    match value {
        Value::String(s) if known(s) => value.clone(),
        Value::String(s) => Value::String(format!("<{} chars>", s.chars().count())),
        Value::Number(n) if n.as_u64().is_some_and(|n| n < MAX_PLAIN_NUMBER) => value.clone(),
        Value::Number(_) => Value::String("<number>".to_owned()),
        Value::Array(items) => {
            Value::Array(items.iter().take(5).map(|v| shape(v, known)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shape(v, known)))
                .collect(),
        ),
        Value::Bool(_) | Value::Null => value.clone(),
    }
}

fn cut(mut text: String) -> String {
    if text.chars().count() > MAX_CHARS {
        text = text.chars().take(MAX_CHARS).collect();
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::body_shape;

    #[test]
    fn only_keys_codes_and_documented_messages_survive() {
        let body = r#"{"error": {"code": 20509, "message": "Leia Organa 52998224725", "cpf": 52998224725}}"#;
        let shaped = body_shape(body, |_| false);
        assert_eq!(
            shaped,
            r#"{"error":{"code":20509,"cpf":"<number>","message":"<23 chars>"}}"#
        );
        let documented = r#"{"code": 9, "message": "process expired", "details": []}"#;
        assert_eq!(
            body_shape(documented, |m| m == "process expired"),
            r#"{"code":9,"details":[],"message":"process expired"}"#
        );
    }

    #[test]
    fn text_is_described_not_quoted() {
        assert_eq!(
            body_shape("Jwt is expired", |m| m == "Jwt is expired"),
            "Jwt is expired"
        );
        assert_eq!(body_shape("hello Leia", |_| false), "<text, 10 bytes>");
        assert_eq!(
            body_shape("<html>x</html>", |_| false),
            "<markup, 14 bytes>"
        );
        assert_eq!(body_shape("  ", |_| false), "<empty>");
        assert!(
            body_shape(&format!("[{}]", "1,".repeat(500) + "1"), |_| false)
                .chars()
                .count()
                <= 401
        );
    }
}
