//! Idempotent creates refused or not replayable (`request_id`, AIP-155):
//! one row per condition of [`IdempotencyError`].

use tonic::Code::*;
use tonic_types::{ErrorDetails, FieldViolation};

use super::{DEFAULT_RETRY_DELAY, Mapped, Origin, Reason, reason};
use crate::idempotency::{IdempotencyError, REQUEST_ID_MAX_CHARS, RequestKeyProblem};

pub(super) fn idempotency(error: &IdempotencyError) -> Mapped {
    let with = |code, reason, message: &str, details| Mapped {
        message: message.to_owned(),
        details,
        ..Mapped::new(code, reason, Origin::Facade)
    };
    let on_request_id = |reason: Reason, description: String| {
        let mut violation = FieldViolation::new("request_id", description);
        violation.reason = reason.as_str().to_owned();
        let mut details = ErrorDetails::new();
        details.set_bad_request(vec![violation]);
        details
    };
    let retry = |delay| {
        let mut details = ErrorDetails::new();
        details.set_retry_info(Some(delay));
        details
    };
    match error {
        IdempotencyError::RequestIdInvalid(problem) => {
            let description = match problem {
                RequestKeyProblem::TooLong => {
                    format!("request_id must be at most {REQUEST_ID_MAX_CHARS} characters")
                }
                RequestKeyProblem::BadCharacter => {
                    "request_id may hold only A-Z a-z 0-9 - _ . : (a UUID is recommended)"
                        .to_owned()
                }
            };
            let details = on_request_id(reason!("REQUEST_ID_INVALID"), description.clone());
            with(
                InvalidArgument,
                reason!("REQUEST_ID_INVALID"),
                &description,
                details,
            )
        }
        // Nothing was sent: a new request needs a new request id.
        IdempotencyError::RequestIdReused => {
            let description = "request_id was already used with a different request; use a new request_id for a new request";
            let details = on_request_id(reason!("REQUEST_ID_REUSED"), description.to_owned());
            with(
                InvalidArgument,
                reason!("REQUEST_ID_REUSED"),
                description,
                details,
            )
        }
        // The first call is running (here or on another replica).
        IdempotencyError::InProgress { retry_after } => with(
            Aborted,
            reason!("REQUEST_IN_PROGRESS"),
            "a call with this request_id is still running; retry after the RetryInfo delay to get its answer",
            retry(*retry_after),
        ),
        // The request may have reached the vendor without an answer: a
        // retry could create a second, billed process.
        IdempotencyError::OutcomeUnknown => with(
            Aborted,
            reason!("REQUEST_OUTCOME_UNKNOWN"),
            "the vendor may or may not have created the process for this request_id; \
             do not retry it blindly: find the process first, or accept a possible duplicate with a new request_id",
            ErrorDetails::new(),
        ),
        // Fail closed: without the store the facade cannot promise one call.
        IdempotencyError::StoreUnavailable => with(
            Unavailable,
            reason!("IDEMPOTENCY_STORE_UNAVAILABLE"),
            "the idempotency store is unavailable; retry with the same request_id",
            retry(DEFAULT_RETRY_DELAY),
        ),
        IdempotencyError::RecordUnreadable => with(
            Internal,
            reason!("IDEMPOTENCY_RECORD_UNREADABLE"),
            "the stored answer for this request_id cannot be read",
            ErrorDetails::new(),
        ),
    }
}
