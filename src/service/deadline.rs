//! The time budget of a call. The caller's `grpc-timeout` counts from the
//! arrival of the request's headers (not from the handler, which starts
//! only once the message has arrived); the upstream work ends a margin
//! before it, for the facade's own answer, and no later than the configured
//! upstream timeout. Which of the two came first is kept: only the facade's
//! own timeout says something about the vendor (the circuit breaker). The call ledger answers DEADLINE_EXCEEDED itself at the
//! deadline, before tonic's own timer fires (which would say CANCELLED).

use std::time::Duration;

use tokio::time::Instant;

/// The most kept back from a caller's deadline for the facade's own work.
pub const DEADLINE_MARGIN_MAX: Duration = Duration::from_millis(50);

/// Parses a `grpc-timeout` value as the gRPC spec writes it: 1 to 8 ASCII
/// digits, then one unit (`H` `M` `S` `m` `u` `n`). Anything else (a sign,
/// spaces, a ninth digit, a character that is not ASCII) is not a timeout.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (&unit, digits) = value.as_bytes().split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 8 digits: always fits, and `H` (3600 × 99 999 999 s) too.
    let amount = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// When the upstream work of a call must end, and whose limit that is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallDeadline {
    pub at: Instant,
    /// `at` is the facade's own limit (`--upstream-timeout` counted from
    /// admission; the caller's deadline is later or absent): an upstream
    /// timeout then means the vendor was too slow, not the caller too
    /// impatient, and counts for the circuit breaker.
    pub upstream_timeout: bool,
}

/// A bare instant (a watch's end, say) is not the upstream timeout.
impl From<Instant> for CallDeadline {
    fn from(at: Instant) -> Self {
        Self {
            at,
            upstream_timeout: false,
        }
    }
}

/// When the upstream work of a call must end: `timeout` (the caller's, if
/// any) after `arrival`, less a tenth of it (at most
/// [`DEADLINE_MARGIN_MAX`]), and never later than `cap` after `now`; with
/// whether the cap came first.
pub fn upstream_deadline(
    arrival: Instant,
    timeout: Option<Duration>,
    now: Instant,
    cap: Duration,
) -> (Instant, bool) {
    let capped = now + cap;
    match timeout {
        Some(timeout) => {
            let margin = (timeout / 10).min(DEADLINE_MARGIN_MAX);
            let callers = arrival + timeout.saturating_sub(margin);
            (callers.min(capped), capped <= callers)
        }
        None => (capped, true),
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
        assert_eq!(
            parse_grpc_timeout("99999999H"),
            Some(Duration::from_secs(99_999_999 * 3600))
        );
        assert_eq!(
            parse_grpc_timeout("00000001S"),
            Some(Duration::from_secs(1))
        );
        for bad in [
            "",
            "m",
            "10",
            "10x",
            "123456789S",
            "-1S",
            "+1S",
            " 1S",
            "1 S",
            "1s",
            "1é",
            "1\u{10FFFF}",
            "é",
            "1H ",
            "١S",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_deadline_counts_from_arrival_keeps_a_margin_and_respects_the_cap() {
        let cap = Duration::from_secs(10);
        let arrival = Instant::now();
        let now = arrival + Duration::from_millis(120);
        let at = |ms: u64| arrival + Duration::from_millis(ms);
        assert_eq!(
            upstream_deadline(arrival, None, now, cap),
            (now + cap, true)
        );
        let deadline = |timeout: Duration| upstream_deadline(arrival, Some(timeout), now, cap);
        assert_eq!(deadline(Duration::from_millis(200)), (at(180), false));
        assert_eq!(deadline(Duration::from_secs(2)), (at(1950), false));
        assert_eq!(deadline(Duration::from_secs(60)), (now + cap, true));
        // A message that arrived after the deadline leaves no budget at all.
        assert!(deadline(Duration::from_millis(100)).0 < now);
    }
}
