//! The JSON log line: one object per event, written straight into the log
//! layer's buffer. The shape is that of `tracing-subscriber`'s JSON format
//! with flattened events and no spans (`timestamp` in RFC 3339, UTC, to the
//! microsecond; `level`, `message`, the event's fields, `target`), which is what the facade printed before; the
//! difference is the cost. That formatter collects every field into a map of
//! `serde_json::Value`s (an allocation a field) and passes each fragment
//! through a UTF-8 check; on the per-call line this was a tenth of a
//! SetProcessDocument call's instructions. This one writes as it visits.

use std::fmt::{self, Write as _};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        write!(
            writer,
            "{{\"timestamp\":\"{}\",\"level\":\"",
            humantime::format_rfc3339_micros(std::time::SystemTime::now())
        )?;
        writer.write_str(metadata.level().as_str())?;
        writer.write_char('"')?;
        let mut fields = Fields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(",\"target\":")?;
        write_json_string(&mut writer, metadata.target())?;
        writer.write_str("}\n")
    }
}

/// Writes each field as `,"name":value`, keeping the first error.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            self.writer.write_char(',')?;
            write_json_string(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |w| write_json_string(w, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes them as null too.
        self.field(field, |w| match value.is_finite() {
            true => write!(w, "{value}"),
            false => w.write_str("null"),
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, |w| write_json_display(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` arrives here too, wrapped so that its Debug is its Display.
        self.field(field, |w| {
            w.write_char('"')?;
            write!(Escaped(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

fn write_json_display(w: &mut Writer<'_>, value: &dyn fmt::Display) -> fmt::Result {
    w.write_char('"')?;
    write!(Escaped(w), "{value}")?;
    w.write_char('"')
}

/// `value` as a JSON string, quotes included.
fn write_json_string(w: &mut impl fmt::Write, value: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaped(w).write_str(value)?;
    w.write_char('"')
}

/// Escapes what is written through it for the inside of a JSON string, as
/// serde_json does: `"` and `\` backslashed, the usual control characters by
/// their short escapes, the others as `\u00XX`. Runs of plain text are
/// copied whole.
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.bytes().position(needs_escape) {
            // Only ASCII bytes are escaped: the slices stay on char boundaries.
            self.0.write_str(&rest[..at])?;
            let byte = rest.as_bytes()[at];
            match byte {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                0x08 => self.0.write_str("\\b")?,
                0x0c => self.0.write_str("\\f")?,
                _ => write!(self.0, "\\u{byte:04x}")?,
            }
            rest = &rest[at + 1..];
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        write_json_string(&mut out, text).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        let mut every_control: String = (0u8..0x20).map(char::from).collect();
        every_control.push('\u{7f}');
        for text in [
            "",
            "plain",
            "quote \" and backslash \\",
            "Sant´Anna São Paulo ‘x’ `y` 日本 😀",
            "line\nbreak\r\ttab",
            "\u{2028}\u{2029}",
            "trailing \\",
            "\"",
            &every_control,
        ] {
            assert_eq!(
                escaped(text),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_char_below_0x800_round_trips() {
        let text: String = (0u32..0x800).filter_map(char::from_u32).collect();
        let line = escaped(&text);
        assert_eq!(line, serde_json::to_string(&text).unwrap());
        assert_eq!(serde_json::from_str::<String>(&line).unwrap(), text);
    }
}
