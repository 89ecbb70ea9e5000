//! tonic's own error answers, recognised by code and message (tonic gives
//! them no other mark), so that each can be answered again with ErrorInfo
//! and a stable reason. The messages are tonic 0.14's and tonic-prost's;
//! the integration tests in `tests/api/hostile_clients.rs` provoke every
//! one of them, so an upgrade that rewords one fails there.

use tonic::{Code, Status};

use crate::status::ServerError;

/// What a tonic answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TonicAnswer {
    /// Over the decoding limit, before or after decompression.
    TooLarge,
    /// One of the facade's own conditions.
    Server(ServerError),
}

/// Code, how the message starts, and what it means.
const PATTERNS: &[(Code, &str, Meaning)] = &[
    (
        Code::OutOfRange,
        "Error, decoded message length too large",
        Meaning::TooLarge,
    ),
    (
        Code::ResourceExhausted,
        "Error decompressing: size limit",
        Meaning::TooLarge,
    ),
    (
        Code::Internal,
        "failed to decode Protobuf message",
        Meaning::Undecodable,
    ),
    (
        Code::Internal,
        "Unexpected EOF decoding stream.",
        Meaning::Truncated,
    ),
    (Code::Internal, "Missing request message.", Meaning::Missing),
    (
        Code::Internal,
        "protocol error: received message with compressed-flag but no grpc-encoding",
        Meaning::CompressedWithoutEncoding,
    ),
    (
        Code::Internal,
        "protocol error: received message with invalid compression flag",
        Meaning::InvalidFlag,
    ),
    (
        Code::Internal,
        "Error decompressing:",
        Meaning::Decompression,
    ),
    (
        Code::Unimplemented,
        "Content is compressed with",
        Meaning::Encoding,
    ),
];

#[derive(Debug, Clone, Copy)]
enum Meaning {
    TooLarge,
    Undecodable,
    Truncated,
    Missing,
    CompressedWithoutEncoding,
    InvalidFlag,
    Decompression,
    Encoding,
}

/// What `status` (an answer without ErrorInfo) means, if tonic wrote it.
pub fn classify(status: &Status) -> Option<TonicAnswer> {
    // The router's and the generated services' answer to an unknown
    // service or method: UNIMPLEMENTED with no message.
    if status.code() == Code::Unimplemented && status.message().is_empty() {
        return Some(TonicAnswer::Server(ServerError::MethodNotFound));
    }
    let (_, _, meaning) = PATTERNS
        .iter()
        .find(|(code, start, _)| status.code() == *code && status.message().starts_with(start))?;
    Some(match meaning {
        Meaning::TooLarge => TonicAnswer::TooLarge,
        Meaning::Undecodable => TonicAnswer::Server(ServerError::RequestUndecodable),
        Meaning::Truncated => TonicAnswer::Server(ServerError::RequestFrameTruncated),
        Meaning::Missing => TonicAnswer::Server(ServerError::RequestMessageMissing),
        Meaning::CompressedWithoutEncoding => {
            TonicAnswer::Server(ServerError::RequestCompressedWithoutEncoding)
        }
        Meaning::InvalidFlag => TonicAnswer::Server(ServerError::RequestFrameInvalid),
        Meaning::Decompression => TonicAnswer::Server(ServerError::RequestDecompressionFailed),
        Meaning::Encoding => TonicAnswer::Server(ServerError::RequestEncodingUnsupported),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tonic_answer_is_recognised_and_others_are_not() {
        let server = |code: Code, message: &str| classify(&Status::new(code, message));
        assert_eq!(
            server(
                Code::OutOfRange,
                "Error, decoded message length too large: found 9 bytes, the limit is: 4 bytes"
            ),
            Some(TonicAnswer::TooLarge)
        );
        assert_eq!(
            server(
                Code::Internal,
                "failed to decode Protobuf message: invalid wire type"
            ),
            Some(TonicAnswer::Server(ServerError::RequestUndecodable))
        );
        assert_eq!(
            server(
                Code::Internal,
                "Error decompressing: corrupt deflate stream, while sending request"
            ),
            Some(TonicAnswer::Server(ServerError::RequestDecompressionFailed))
        );
        assert_eq!(
            server(Code::Unimplemented, ""),
            Some(TonicAnswer::Server(ServerError::MethodNotFound))
        );
        assert_eq!(server(Code::Internal, "something else"), None);
        assert_eq!(server(Code::NotFound, "Missing request message."), None);
        assert_eq!(server(Code::Unimplemented, "not yet"), None);
    }
}
