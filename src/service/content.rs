//! A document's OCR content (a JSON object whose shape varies with the
//! document type) as a `google.protobuf.Struct`, every key and nesting kept,
//! within bounds every client can decode:
//! - depth: each JSON level costs protobuf decoders two or three message
//!   levels (Value → Struct → map entry, or Value → ListValue), and prost,
//!   protobuf-java and upb stop at 100; content nested 33 objects deep was
//!   undecodable. An object or array more than [`MAX_DEPTH`] levels down
//!   (the content itself is level 1) becomes `null`;
//! - size: content whose encoding exceeds [`MAX_ENCODED_BYTES`] (a quarter of
//!   gRPC clients' usual 4 MiB receive limit) is left out whole (an empty
//!   Struct).
//!
//! Either way the vendor's answer is still a success (the process exists
//! and may be billed: an error would invite a duplicate), and the caller is
//! told by the `x-unico-content-truncated` response metadata (`depth` or
//! `size`). JSON nested deeper than serde_json's limit (128) never gets here:
//! that answer is unparseable.

use prost::Message;
use prost_types::{ListValue, Struct, Value as PbValue, value::Kind};
use serde_json::{Map, Value};

/// The deepest object or array kept, the content itself being level 1.
pub const MAX_DEPTH: usize = 16;
/// The largest encoded content kept.
pub const MAX_ENCODED_BYTES: usize = 1024 * 1024;
/// The response metadata key that says content was cut.
pub const TRUNCATED_KEY: &str = "x-unico-content-truncated";

/// Why content is not all there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// Values below [`MAX_DEPTH`] became `null`.
    Depth,
    /// Over [`MAX_ENCODED_BYTES`]: no content at all.
    Size,
}

impl Truncation {
    pub fn as_str(self) -> &'static str {
        match self {
            Truncation::Depth => "depth",
            Truncation::Size => "size",
        }
    }
}

/// The converted content, and whether (and why) it was cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub value: Struct,
    pub truncated: Option<Truncation>,
}

/// JSON object → `Struct`, within the bounds above.
pub fn to_struct(object: Map<String, Value>) -> Content {
    let mut cut = false;
    let value = object_to_struct(object, 1, &mut cut);
    let (value, truncated) = if value.encoded_len() > MAX_ENCODED_BYTES {
        (Struct::default(), Some(Truncation::Size))
    } else {
        (value, cut.then_some(Truncation::Depth))
    };
    if let Some(truncation) = truncated {
        // The shape of the problem only: the content is personal data.
        tracing::warn!(
            truncation = truncation.as_str(),
            max_depth = MAX_DEPTH,
            max_encoded_bytes = MAX_ENCODED_BYTES,
            "document content cut to fit clients' decoders"
        );
    }
    Content { value, truncated }
}

/// `object` is at `depth`.
fn object_to_struct(object: Map<String, Value>, depth: usize, cut: &mut bool) -> Struct {
    Struct {
        fields: object
            .into_iter()
            .map(|(k, v)| (k, to_value(v, depth, cut)))
            .collect(),
    }
}

/// `value` sits inside a container at `depth`.
fn to_value(value: Value, depth: usize, cut: &mut bool) -> PbValue {
    let container = matches!(value, Value::Array(_) | Value::Object(_));
    if container && depth >= MAX_DEPTH {
        *cut = true;
        return PbValue {
            kind: Some(Kind::NullValue(0)),
        };
    }
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        // Struct numbers are doubles; integers beyond 2^53 lose precision,
        // as in any protobuf JSON mapping.
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items
                .into_iter()
                .map(|v| to_value(v, depth + 1, cut))
                .collect(),
        }),
        Value::Object(object) => Kind::StructValue(object_to_struct(object, depth + 1, cut)),
    };
    PbValue { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pb::identity_v1::{CreateDocumentProcessResponse, Document};

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    /// `{"a": {"a": … {"a": 1}}}` with `levels` objects in all.
    fn nested_objects(levels: usize) -> Map<String, Value> {
        let mut value = json!(1);
        for _ in 1..levels {
            value = json!({ "a": value });
        }
        object(json!({ "a": value }))
    }

    /// `{"a": [[ … [1] … ]]}` with `levels` arrays.
    fn nested_arrays(levels: usize) -> Map<String, Value> {
        let mut value = json!(1);
        for _ in 0..levels {
            value = json!([value]);
        }
        object(json!({ "a": value }))
    }

    /// The levels of objects or arrays under the Struct.
    fn depth_of(value: &PbValue) -> usize {
        match &value.kind {
            Some(Kind::StructValue(s)) => 1 + s.fields.values().map(depth_of).max().unwrap_or(0),
            Some(Kind::ListValue(l)) => 1 + l.values.iter().map(depth_of).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// The content inside a whole response, encoded and decoded by prost
    /// as a client would.
    fn round_trip(content: Struct) -> Result<CreateDocumentProcessResponse, prost::DecodeError> {
        let response = CreateDocumentProcessResponse {
            id: "p".into(),
            status: 3,
            document: Some(Document {
                id: "d".into(),
                content: Some(content),
                ..Document::default()
            }),
        };
        CreateDocumentProcessResponse::decode(response.encode_to_vec().as_slice())
    }

    #[test]
    fn content_keeps_every_key_and_nesting() {
        let content = to_struct(object(json!({
            "numero": "12345678", "filiacao": ["A", "B"], "nested": {"x": 1.5, "ok": true, "none": null}
        })));
        assert_eq!(content.truncated, None);
        let s = content.value;
        assert_eq!(
            s.fields["numero"].kind,
            Some(Kind::StringValue("12345678".into()))
        );
        let Some(Kind::ListValue(list)) = &s.fields["filiacao"].kind else {
            panic!("list")
        };
        assert_eq!(list.values.len(), 2);
        let Some(Kind::StructValue(nested)) = &s.fields["nested"].kind else {
            panic!("struct")
        };
        assert_eq!(nested.fields["x"].kind, Some(Kind::NumberValue(1.5)));
        assert_eq!(nested.fields["ok"].kind, Some(Kind::BoolValue(true)));
        assert_eq!(nested.fields["none"].kind, Some(Kind::NullValue(0)));
    }

    #[test]
    fn content_at_the_depth_limit_is_kept_whole() {
        for content in [nested_objects(MAX_DEPTH), nested_arrays(MAX_DEPTH - 1)] {
            let converted = to_struct(content);
            assert_eq!(converted.truncated, None);
            assert!(round_trip(converted.value).is_ok());
        }
        let one_more = to_struct(nested_objects(MAX_DEPTH + 1));
        assert_eq!(one_more.truncated, Some(Truncation::Depth));
    }

    #[test]
    fn deeper_content_is_cut_to_null_and_every_client_decodes_the_answer() {
        // 33 objects and 49 arrays were undecodable before the bound.
        for content in [nested_objects(33), nested_arrays(49), nested_objects(127)] {
            let converted = to_struct(content);
            assert_eq!(converted.truncated, Some(Truncation::Depth));
            let kept = PbValue {
                kind: Some(Kind::StructValue(converted.value.clone())),
            };
            assert_eq!(depth_of(&kept), MAX_DEPTH);
            round_trip(converted.value).expect("prost decodes it");
        }
    }

    #[test]
    fn oversized_content_is_left_out_whole() {
        let big = "x".repeat(MAX_ENCODED_BYTES);
        let converted = to_struct(object(json!({ "blob": big })));
        assert_eq!(converted.truncated, Some(Truncation::Size));
        assert!(converted.value.fields.is_empty());
        let fits = "x".repeat(MAX_ENCODED_BYTES / 2);
        assert_eq!(to_struct(object(json!({ "blob": fits }))).truncated, None);
    }
}
