//! The time budget of an upstream call: the caller's `grpc-timeout` less a
//! margin for the facade's own work, capped by the configured upstream
//! timeout. The facade answers DEADLINE_EXCEEDED itself before tonic's own
//! timer fires (which would say CANCELLED).

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// The most kept back from a caller's deadline for the facade's own work.
pub const DEADLINE_MARGIN_MAX: Duration = Duration::from_millis(50);

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H M S m u n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The budget for the upstream call of a request with this metadata.
pub fn call_budget(metadata: &MetadataMap, cap: Duration) -> Duration {
    let caller = metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    match caller {
        Some(deadline) => {
            let margin = (deadline / 10).min(DEADLINE_MARGIN_MAX);
            deadline.saturating_sub(margin).min(cap)
        }
        None => cap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_rejects_garbage() {
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("200m"), Some(Duration::from_millis(200)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "10", "10x", "123456789S", "-1S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_budget_keeps_a_margin_and_respects_the_cap() {
        let cap = Duration::from_secs(10);
        let mut md = MetadataMap::new();
        assert_eq!(call_budget(&md, cap), cap);
        md.insert("grpc-timeout", "200m".parse().unwrap());
        assert_eq!(call_budget(&md, cap), Duration::from_millis(180));
        md.insert("grpc-timeout", "60S".parse().unwrap());
        assert_eq!(call_budget(&md, cap), cap);
        md.insert("grpc-timeout", "2S".parse().unwrap());
        assert_eq!(call_budget(&md, cap), Duration::from_millis(1950));
    }
}
