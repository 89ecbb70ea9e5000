//! What a 2xx body must be before it counts as a success: a JSON object
//! whose nested objects are objects (serde's derived structs also accept a
//! JSON array, reading the fields by position, which no vendor answer is),
//! holding the fields each endpoint's success cannot go without (its ids).
//! Unknown fields and unnamed enum values are tolerated: the vendor adds
//! them at will. Anything else is an unparseable answer, never a success
//! with empty content.

use std::{fmt, marker::PhantomData};

use serde::{
    Deserialize, Deserializer,
    de::{DeserializeOwned, MapAccess, Visitor, value::MapAccessDeserializer},
};

use super::client::json_error_shape;

/// A 2xx body's DTO.
pub(crate) trait SuccessBody: DeserializeOwned {
    /// The first field a success needs that the body lacks (or has empty),
    /// by its JSON path; `None` when the body is complete.
    fn missing(&self) -> Option<&'static str>;
}

/// Decodes a 2xx body: a JSON object, then the endpoint's required fields.
/// The error says where, never what (the vendor may echo personal data).
pub(crate) fn decode<T: SuccessBody>(body: &[u8]) -> Result<T, String> {
    let Object(reply) =
        serde_json::from_slice::<Object<T>>(body).map_err(|e| json_error_shape(&e))?;
    match reply.missing() {
        Some(field) => Err(format!("{field} missing or empty")),
        None => Ok(reply),
    }
}

/// A JSON object, and only an object.
#[derive(Debug)]
pub(crate) struct Object<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        // `deserialize_map` refuses a JSON array, where the derived
        // `deserialize_struct` would take it.
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Point {
        #[serde(default)]
        x: i64,
        #[serde(default)]
        inner: Option<Object<Inner>>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        #[serde(default)]
        id: String,
    }

    impl SuccessBody for Point {
        fn missing(&self) -> Option<&'static str> {
            (self.x == 0).then_some("x")
        }
    }

    #[test]
    fn only_objects_with_their_required_fields_are_successes() {
        let point =
            decode::<Point>(br#"{"x": 3, "extra": [1], "inner": {"id": "a", "more": 1}}"#).unwrap();
        assert_eq!(point.x, 3);
        assert_eq!(point.inner.unwrap().0.id, "a");
        assert!(decode::<Point>(br#"{"x": 3, "inner": null}"#).is_ok());
        for refused in [
            &br#"[3]"#[..],
            br#"[3, {"id": "a"}]"#,
            br#"{"x": 3, "inner": ["a"]}"#,
            br#"{}"#,
            br#"{"x": 0}"#,
            br#"{"x": "3"}"#,
            br#"null"#,
            br#""x""#,
            b"",
        ] {
            assert!(
                decode::<Point>(refused).is_err(),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
        assert_eq!(
            decode::<Point>(br#"{"x": 0}"#).unwrap_err(),
            "x missing or empty"
        );
        // Where, never what.
        let error = decode::<Point>(br#"{"x": "Luke Skywalker"}"#).unwrap_err();
        assert!(!error.contains("Luke"), "{error}");
    }
}
