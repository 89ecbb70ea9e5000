//! Reading response bodies with a cap, so that a misbehaving upstream (a
//! multi-megabyte error page, an endless stream) cannot exhaust memory.

use bytes::{Bytes, BytesMut};

/// A body read up to a cap.
#[derive(Debug)]
pub(crate) struct CappedBody {
    pub bytes: Bytes,
    /// True when the body was longer than the cap and reading stopped.
    pub truncated: bool,
}

/// Reads at most `cap` bytes of the body; stops early (dropping the rest of
/// the connection's body) when the cap is reached.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<CappedBody, reqwest::Error> {
    let mut buffer = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - buffer.len();
        if chunk.len() > room {
            buffer.extend_from_slice(&chunk[..room]);
            return Ok(CappedBody {
                bytes: buffer.freeze(),
                truncated: true,
            });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(CappedBody {
        bytes: buffer.freeze(),
        truncated: false,
    })
}
