//! The facade's own answers about the call itself rather than its content:
//! the gRPC wire rules a request broke (content type, HTTP method, framing,
//! encoding, a second message, an unknown method), and what the call ledger
//! decides (a deadline or the request-message timeout expired, the caller
//! cancelled, the shutdown grace ran out). One enum, one table to
//! `tonic::Status` with ErrorInfo; `FacadeError` covers the handlers'
//! failures.
//!
//! Client mistakes are never a 5xx-class code: an undecodable message or a
//! compressed flag without `grpc-encoding` is INVALID_ARGUMENT (gRPC's own
//! documents suggest INTERNAL, which would page operators for a caller's
//! bug and let any client raise the facade's error ratio).

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::{ERROR_DOMAIN, Origin, Reason, Summary, reason};

/// Where a call was when the facade gave up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The headers arrived, the request message had not (or not all of it).
    ReceivingRequest,
    /// The message arrived and the handler was working on it (an upstream
    /// call may have been sent).
    Processing,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::ReceivingRequest => "receiving_request",
            Stage::Processing => "processing",
        }
    }
}

/// Everything the facade answers about a call before or around its handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// The caller's `grpc-timeout`, counted from the arrival of the headers,
    /// ran out before any other answer.
    #[error("the call's deadline expired while {}", .stage.as_str())]
    CallDeadlineExceeded { stage: Stage },
    /// The request message did not arrive within `--request-message-timeout`.
    #[error("the request message did not arrive within {limit:?}")]
    RequestMessageTimeout { limit: Duration },
    /// The bytes are not a protobuf message of the method's request type.
    #[error("the request message is not valid protobuf")]
    RequestUndecodable,
    /// The body ended inside a length-prefixed frame (a bad length prefix).
    #[error("the request body ended inside a message frame")]
    RequestFrameTruncated,
    /// The frame's flag is neither 0 nor 1.
    #[error("the request frame has an invalid compressed flag")]
    RequestFrameInvalid,
    /// The frame is marked compressed but the call named no encoding.
    #[error("a compressed request message without grpc-encoding")]
    RequestCompressedWithoutEncoding,
    /// A compressed message that does not decompress.
    #[error("the request message does not decompress")]
    RequestDecompressionFailed,
    /// `grpc-encoding` names an encoding the facade does not accept.
    #[error("request encoding not supported")]
    RequestEncodingUnsupported,
    /// The body ended without any message.
    #[error("the request has no message")]
    RequestMessageMissing,
    /// A unary call whose body holds a second message.
    #[error("a unary call with more than one request message")]
    RequestExtraMessage,
    /// No such service or method.
    #[error("no such method")]
    MethodNotFound,
    /// `content-type` is not `application/grpc[+proto]`.
    #[error("the content-type is not application/grpc")]
    ContentTypeUnsupported,
    /// Any HTTP method but POST.
    #[error("only POST is allowed")]
    HttpMethodNotAllowed,
    /// The caller went away (RST_STREAM, a closed connection) before an
    /// answer: nothing is sent, but the call is logged and counted.
    #[error("the caller cancelled the call")]
    ClientCancelled { stage: Stage },
    /// The shutdown grace ran out with the call still in flight.
    #[error("the shutdown grace period ran out")]
    ShutdownGraceExpired { stage: Stage },
    /// tonic answered with an error the table does not know: kept as it is,
    /// with ErrorInfo added.
    #[error("unclassified server answer {code:?}")]
    Unclassified { code: Code },
}

/// One of each condition, for tests that walk the table.
#[cfg(test)]
pub(crate) const ALL: &[ServerError] = &[
    ServerError::CallDeadlineExceeded {
        stage: Stage::ReceivingRequest,
    },
    ServerError::CallDeadlineExceeded {
        stage: Stage::Processing,
    },
    ServerError::RequestMessageTimeout {
        limit: Duration::from_secs(10),
    },
    ServerError::RequestUndecodable,
    ServerError::RequestFrameTruncated,
    ServerError::RequestFrameInvalid,
    ServerError::RequestCompressedWithoutEncoding,
    ServerError::RequestDecompressionFailed,
    ServerError::RequestEncodingUnsupported,
    ServerError::RequestMessageMissing,
    ServerError::RequestExtraMessage,
    ServerError::MethodNotFound,
    ServerError::ContentTypeUnsupported,
    ServerError::HttpMethodNotAllowed,
    ServerError::ClientCancelled {
        stage: Stage::Processing,
    },
    ServerError::ShutdownGraceExpired {
        stage: Stage::Processing,
    },
    ServerError::Unclassified {
        code: Code::Unknown,
    },
];

/// One row of the table: the code, the reason, the status message.
struct Row {
    code: Code,
    reason: Reason,
    message: &'static str,
}

const fn row(code: Code, reason: Reason, message: &'static str) -> Row {
    Row {
        code,
        reason,
        message,
    }
}

impl ServerError {
    #[rustfmt::skip]
    fn row(&self) -> Row {
        use Code::*;
        match self {
            // Both stages: the caller's budget is spent, whoever was slow.
            Self::CallDeadlineExceeded { .. } => row(DeadlineExceeded, reason!("CALL_DEADLINE_EXCEEDED"), "the call's deadline expired"),
            // A facade limit, like the size limit: RESOURCE_EXHAUSTED, so that
            // it is never mistaken for the caller's own deadline.
            Self::RequestMessageTimeout { .. } => row(ResourceExhausted, reason!("REQUEST_MESSAGE_TIMEOUT"), "the request message did not arrive in time"),
            // The wire: the caller's mistakes, INVALID_ARGUMENT.
            Self::RequestUndecodable => row(InvalidArgument, reason!("REQUEST_UNDECODABLE"), "the request message cannot be decoded as the method's request type"),
            Self::RequestFrameTruncated => row(InvalidArgument, reason!("REQUEST_FRAME_TRUNCATED"), "the request body ended inside a length-prefixed message"),
            Self::RequestFrameInvalid => row(InvalidArgument, reason!("REQUEST_FRAME_INVALID"), "the request frame's compressed flag is neither 0 nor 1"),
            Self::RequestCompressedWithoutEncoding => row(InvalidArgument, reason!("REQUEST_COMPRESSED_WITHOUT_ENCODING"), "a message is marked compressed but grpc-encoding names no encoding"),
            Self::RequestDecompressionFailed => row(InvalidArgument, reason!("REQUEST_DECOMPRESSION_FAILED"), "the request message does not decompress"),
            Self::RequestMessageMissing => row(InvalidArgument, reason!("REQUEST_MESSAGE_MISSING"), "the request has no message"),
            Self::RequestExtraMessage => row(InvalidArgument, reason!("REQUEST_EXTRA_MESSAGE"), "a unary call takes exactly one request message"),
            Self::ContentTypeUnsupported => row(InvalidArgument, reason!("CONTENT_TYPE_UNSUPPORTED"), "the content-type must be application/grpc"),
            // Not served here.
            Self::RequestEncodingUnsupported => row(Unimplemented, reason!("REQUEST_ENCODING_UNSUPPORTED"), "the request's grpc-encoding is not accepted; see grpc-accept-encoding"),
            Self::MethodNotFound => row(Unimplemented, reason!("METHOD_NOT_FOUND"), "no such service or method on this server"),
            Self::HttpMethodNotAllowed => row(Unimplemented, reason!("HTTP_METHOD_NOT_ALLOWED"), "gRPC calls use POST"),
            // Never sent (the caller is gone): the call's log line and count.
            Self::ClientCancelled { .. } => row(Cancelled, reason!("CLIENT_CANCELLED"), "the caller cancelled the call or its connection closed"),
            // The call may have reached the vendor: no retry hint.
            Self::ShutdownGraceExpired { .. } => row(Unavailable, reason!("SHUTDOWN_GRACE_EXPIRED"), "the facade is shutting down and could not finish the call"),
            Self::Unclassified { code } => row(*code, reason!("SERVER_ANSWER_UNCLASSIFIED"), ""),
        }
    }

    /// The HTTP status of the answer: 200 for every gRPC answer, but the
    /// gRPC spec's 415 for a content type that is not gRPC, and 405 for a
    /// method that is not POST (so that a plain HTTP client does not read an
    /// error as a success).
    pub fn http_status(&self) -> http::StatusCode {
        match self {
            Self::ContentTypeUnsupported => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::HttpMethodNotAllowed => http::StatusCode::METHOD_NOT_ALLOWED,
            _ => http::StatusCode::OK,
        }
    }

    /// The gRPC code of the answer.
    pub fn code(&self) -> Code {
        self.row().code
    }

    /// ErrorInfo's reason.
    pub fn reason(&self) -> &'static str {
        self.row().reason.as_str()
    }

    /// Refused by the facade with no upstream call possible.
    fn is_local_refusal(&self) -> bool {
        !matches!(
            self,
            Self::CallDeadlineExceeded {
                stage: Stage::Processing
            } | Self::ClientCancelled { .. }
                | Self::ShutdownGraceExpired { .. }
                | Self::Unclassified { .. }
        )
    }
}

/// The status for `error`, with `original_message` replacing the table's
/// when the table has none (an unclassified answer keeps tonic's); with a
/// request id, RequestInfo too. The summary is what the call's log line and
/// metrics say.
pub fn server_status(
    error: &ServerError,
    original_message: Option<&str>,
    request_id: Option<&str>,
) -> (Status, Summary) {
    let row = error.row();
    let mut metadata = HashMap::from([("origin".to_owned(), Origin::Facade.as_str().to_owned())]);
    match error {
        ServerError::CallDeadlineExceeded { stage }
        | ServerError::ClientCancelled { stage }
        | ServerError::ShutdownGraceExpired { stage } => {
            metadata.insert("stage".to_owned(), stage.as_str().to_owned());
        }
        ServerError::RequestMessageTimeout { limit } => {
            metadata.insert("limitMillis".to_owned(), limit.as_millis().to_string());
        }
        _ => {}
    }
    let mut details = ErrorDetails::new();
    if let Some(id) = request_id {
        details.set_request_info(id, "");
    }
    details.set_error_info(row.reason.as_str(), ERROR_DOMAIN, metadata);
    let message = match (row.message, original_message) {
        ("", Some(original)) => original,
        (message, _) => message,
    };
    let summary = Summary {
        code: row.code,
        reason: row.reason.as_str(),
        local: error.is_local_refusal(),
        upstream_http_status: None,
        upstream_code: None,
    };
    (
        Status::with_error_details(row.code, message, details),
        summary,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_has_error_info_a_stable_reason_and_no_server_code_for_a_client_mistake() {
        for error in ALL {
            let (status, summary) = server_status(error, Some("tonic's words"), Some("req-1"));
            let details = status.get_error_details();
            let info = details.error_info().expect("ErrorInfo");
            assert_eq!(info.domain, ERROR_DOMAIN);
            assert_eq!(info.reason, summary.reason);
            assert!(
                info.reason
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{}",
                info.reason
            );
            assert_eq!(details.request_info().unwrap().request_id, "req-1");
            if summary.local {
                assert!(
                    !matches!(
                        status.code(),
                        Code::Internal | Code::Unknown | Code::DataLoss
                    ),
                    "{error:?}"
                );
            }
        }
    }

    #[test]
    fn an_unclassified_answer_keeps_its_code_and_message() {
        let (status, _) = server_status(
            &ServerError::Unclassified {
                code: Code::Unknown,
            },
            Some("h2 protocol error"),
            None,
        );
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unknown, "h2 protocol error")
        );
        let (status, _) = server_status(&ServerError::MethodNotFound, Some("ignored"), None);
        assert_eq!(status.message(), "no such service or method on this server");
    }
}
