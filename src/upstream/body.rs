//! Bodies of upstream exchanges: what the facade sends (a buffer or a
//! streamed capture, always of known length) and reading answers with a cap,
//! so that a misbehaving upstream (a multi-megabyte error page, an endless
//! stream) cannot exhaust memory.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;

use super::streamed_body::StreamedBody;

/// A request body. Its size is always known, so the request carries an exact
/// `Content-Length` (taken from the size hint) and never chunked encoding.
#[derive(Debug)]
pub(crate) enum RequestBody {
    Empty,
    Buffered(Option<Bytes>),
    Streamed(StreamedBody),
}

impl From<Vec<u8>> for RequestBody {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(Bytes::from(bytes))
    }
}

impl From<Bytes> for RequestBody {
    fn from(bytes: Bytes) -> Self {
        Self::Buffered(Some(bytes))
    }
}

impl From<StreamedBody> for RequestBody {
    fn from(body: StreamedBody) -> Self {
        Self::Streamed(body)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Buffered(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Streamed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Buffered(bytes) => bytes.is_none(),
            Self::Streamed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Buffered(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Self::Streamed(body) => body.size_hint(),
        }
    }
}

/// A body read up to a cap.
#[derive(Debug)]
pub(crate) struct CappedBody {
    pub bytes: Bytes,
    /// True when the body was longer than the cap and reading stopped.
    pub truncated: bool,
}

/// Reads at most `cap` bytes of the body; stops early (dropping the rest of
/// the connection's body) when the cap is reached.
pub(crate) async fn read_capped<B>(mut body: B, cap: usize) -> Result<CappedBody, B::Error>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame?.into_data() else {
            continue; // trailers
        };
        let room = cap - buffer.len();
        if chunk.len() > room {
            buffer.extend_from_slice(&chunk[..room]);
            return Ok(CappedBody {
                bytes: buffer.freeze(),
                truncated: true,
            });
        }
        // The common case, one chunk: kept as it came, no copy.
        if buffer.is_empty() && body.is_end_stream() {
            return Ok(CappedBody {
                bytes: chunk,
                truncated: false,
            });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(CappedBody {
        bytes: buffer.freeze(),
        truncated: false,
    })
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt as _, Full, StreamBody};

    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Body<Data = Bytes, Error = Infallible> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let read = read_capped(chunks(&[b"ab", b"cd", b"e"]), 5).await.unwrap();
        assert_eq!((&read.bytes[..], read.truncated), (&b"abcde"[..], false));
        let read = read_capped(Full::new(Bytes::from_static(b"{}")), 5)
            .await
            .unwrap();
        assert_eq!((&read.bytes[..], read.truncated), (&b"{}"[..], false));
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_cut_there() {
        let read = read_capped(chunks(&[b"ab", b"cd", b"ef"]), 5)
            .await
            .unwrap();
        assert_eq!((&read.bytes[..], read.truncated), (&b"abcde"[..], true));
    }

    #[tokio::test]
    async fn request_bodies_state_their_exact_length() {
        let buffered = RequestBody::from(b"{\"a\":1}".to_vec());
        assert_eq!(buffered.size_hint().exact(), Some(7));
        assert_eq!(
            &buffered.collect().await.unwrap().to_bytes()[..],
            b"{\"a\":1}"
        );
        let empty = RequestBody::Empty;
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert!(empty.is_end_stream());
    }
}
