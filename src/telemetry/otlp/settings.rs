//! Where and how spans are exported, from the standard `OTEL_EXPORTER_OTLP_*`
//! variables (the traces-specific one first, then the general one), read
//! once at start-up. A value that cannot be used is a start-up error naming
//! the variable, never its value (headers carry credentials).

use std::time::Duration;

use tonic::{
    codec::CompressionEncoding,
    metadata::{MetadataKey, MetadataMap, MetadataValue},
};

/// The OTLP timeout when none is configured (the specification's default).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The OTLP/gRPC exporter's settings.
#[derive(Debug, Clone)]
pub struct OtlpSettings {
    /// `http://` or `https://` host and port; the gRPC path is fixed.
    pub endpoint: String,
    /// Sent with every export (e.g. a collector's API key).
    pub headers: MetadataMap,
    /// For one export, its retries included.
    pub timeout: Duration,
    /// `gzip` or none.
    pub compression: Option<CompressionEncoding>,
    /// A PEM file of the CA that signs an `https` collector's certificate;
    /// the public web roots otherwise.
    pub certificate: Option<std::path::PathBuf>,
}

impl OtlpSettings {
    /// An endpoint with the defaults (tests, embedding).
    pub fn endpoint(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            headers: MetadataMap::new(),
            timeout: DEFAULT_TIMEOUT,
            compression: None,
            certificate: None,
        }
    }

    /// From the process environment; `None` when no endpoint is set.
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` (the environment, or a table in tests).
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let read = |signal: &str, general: &str| {
            [signal, general].into_iter().find_map(|name| {
                lookup(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name.to_owned(), v.trim().to_owned()))
            })
        };
        let Some((_, endpoint)) = read(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ) else {
            return Ok(None);
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err("the OTLP endpoint must start with http:// or https://".to_owned());
        }
        if let Some((name, protocol)) = read(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ) && protocol != "grpc"
        {
            return Err(format!(
                "{name}: spans are exported over OTLP/gRPC only (set it to grpc, or unset it)"
            ));
        }
        let mut settings = Self::endpoint(endpoint);
        if let Some((name, headers)) = read(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ) {
            settings.headers = parse_headers(&headers).map_err(|why| format!("{name}: {why}"))?;
        }
        if let Some((name, timeout)) = read(
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ) {
            settings.timeout = timeout
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
                .ok_or_else(|| format!("{name}: a whole number of milliseconds above 0"))?;
        }
        if let Some((name, compression)) = read(
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ) {
            settings.compression = match compression.as_str() {
                "gzip" => Some(CompressionEncoding::Gzip),
                "none" => None,
                _ => return Err(format!("{name}: gzip or none")),
            };
        }
        if let Some((_, certificate)) = read(
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        ) {
            settings.certificate = Some(certificate.into());
        }
        Ok(Some(settings))
    }
}

/// `key1=value1,key2=value2`, values percent-encoded (the W3C Baggage form
/// the specification uses).
fn parse_headers(text: &str) -> Result<MetadataMap, &'static str> {
    let mut headers = MetadataMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or("each header is key=value")?;
        let key = MetadataKey::from_bytes(key.trim().to_ascii_lowercase().as_bytes())
            .map_err(|_| "a header name is not a valid gRPC metadata key")?;
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| "a header value is not UTF-8 once percent-decoded")?;
        let value = MetadataValue::try_from(value.as_ref())
            .map_err(|_| "a header value is not a valid gRPC metadata value")?;
        headers.append(key, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(table: &[(&str, &str)]) -> Result<Option<OtlpSettings>, String> {
        let table: HashMap<String, String> = table
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OtlpSettings::from_lookup(|name| table.get(name).cloned())
    }

    #[test]
    fn no_endpoint_no_export() {
        assert!(from(&[]).unwrap().is_none());
        assert!(
            from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_traces_variables_come_before_the_general_ones() {
        let settings = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-general=1"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "X-Api-Key=a%20b%2Cc, tenant = t1",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(settings.endpoint, "http://traces:4317");
        assert_eq!(settings.timeout, Duration::from_millis(1500));
        assert_eq!(settings.headers.get("x-api-key").unwrap(), "a b,c");
        assert_eq!(settings.headers.get("tenant").unwrap(), "t1");
        assert!(settings.headers.get("x-general").is_none());
        assert_eq!(settings.compression, Some(CompressionEncoding::Gzip));
        assert!(settings.certificate.is_none());
    }

    #[test]
    fn defaults_of_an_endpoint_alone() {
        let settings = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317")])
            .unwrap()
            .unwrap();
        assert_eq!(settings.timeout, DEFAULT_TIMEOUT);
        assert!(settings.headers.is_empty());
        assert_eq!(settings.compression, None);
    }

    #[test]
    fn unusable_values_are_start_up_errors_that_name_the_variable_not_the_value() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "secret-token"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad key=secret-token"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ] {
            let error = from(&[endpoint, (name, value)]).unwrap_err();
            assert!(error.starts_with(name), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
        assert!(
            from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")])
                .unwrap_err()
                .contains("http://")
        );
    }
}
