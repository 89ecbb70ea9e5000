//! The body of a unary call holds one length-prefixed message. tonic reads
//! the first and silently drains the rest; this wrapper follows the
//! framing (a flag byte, a 4-byte big-endian length, the message) and fails
//! the body at the first byte after the first message, which tonic then
//! answers with the wrapper's status: INVALID_ARGUMENT
//! `REQUEST_EXTRA_MESSAGE`. Everything else about the frame (flag, size,
//! truncation) is tonic's to judge.
//!
//! A body that fails (the caller reset the stream or dropped the
//! connection) is noted on the call's ticket: tonic reads such a body as
//! merely ended and answers "missing message", which nobody will receive;
//! the ledger logs the call as cancelled instead.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tonic::Status;

use crate::{
    service::CallTicket,
    status::{ServerError, server_status},
};

/// Where the reader is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Inside the 5-byte prefix: `seen` bytes read, the length so far.
    Prefix { seen: u8, length: u32 },
    /// Inside the first message: this many bytes to go.
    Message { remaining: u64 },
    /// The first message is complete: any further byte is an error.
    Complete,
}

const PREFIX_LEN: u8 = 5;

impl Framing {
    fn new() -> Self {
        Framing::Prefix { seen: 0, length: 0 }
    }

    /// Reads `chunk`; `Err` when it holds a byte after the first message.
    fn advance(&mut self, mut chunk: &[u8]) -> Result<(), ServerError> {
        while !chunk.is_empty() {
            match *self {
                Framing::Prefix { seen, length } => {
                    // Byte 0 is the compressed flag; bytes 1..5 the length.
                    let length = if seen == 0 {
                        length
                    } else {
                        (length << 8) | u32::from(chunk[0])
                    };
                    chunk = &chunk[1..];
                    *self = match seen + 1 {
                        PREFIX_LEN if length == 0 => Framing::Complete,
                        PREFIX_LEN => Framing::Message {
                            remaining: u64::from(length),
                        },
                        seen => Framing::Prefix { seen, length },
                    };
                }
                Framing::Message { remaining } => {
                    let taken = remaining.min(chunk.len() as u64);
                    chunk = &chunk[taken as usize..];
                    *self = match remaining - taken {
                        0 => Framing::Complete,
                        remaining => Framing::Message { remaining },
                    };
                }
                Framing::Complete => return Err(ServerError::RequestExtraMessage),
            }
        }
        Ok(())
    }
}

/// A unary request body that refuses a second message.
#[derive(Debug)]
pub struct UnaryBody<B> {
    inner: B,
    framing: Framing,
    ticket: Option<Arc<CallTicket>>,
}

impl<B> UnaryBody<B> {
    pub fn new(inner: B, ticket: Option<Arc<CallTicket>>) -> Self {
        Self {
            inner,
            framing: Framing::new(),
            ticket,
        }
    }
}

impl<B> Body for UnaryBody<B>
where
    B: Body<Data = Bytes, Error = Status> + Unpin,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref()
                    && let Err(error) = self.framing.advance(data)
                {
                    tracing::info!("unary call refused: a second request message");
                    let id = self.ticket.as_ref().map(|t| t.request_id().as_str());
                    return Poll::Ready(Some(Err(server_status(&error, None, id).0)));
                }
            }
            Some(Err(_)) => {
                if let Some(ticket) = &self.ticket {
                    ticket.caller_gone();
                }
            }
            None => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut bytes = vec![flag];
        bytes.extend_from_slice(&(message.len() as u32).to_be_bytes());
        bytes.extend_from_slice(message);
        bytes
    }

    /// Feeds `body` in chunks of `size`; the error, if any.
    fn feed(body: &[u8], size: usize) -> Result<Framing, ServerError> {
        let mut framing = Framing::new();
        for chunk in body.chunks(size) {
            framing.advance(chunk)?;
        }
        Ok(framing)
    }

    #[test]
    fn one_message_in_any_chunking_is_accepted() {
        let body = frame(0, &[7; 300]);
        for size in [1, 2, 4, 5, 6, 299, 305, 1000] {
            assert_eq!(feed(&body, size), Ok(Framing::Complete), "chunks of {size}");
        }
        assert_eq!(feed(&frame(0, &[]), 1), Ok(Framing::Complete));
        assert_eq!(feed(&frame(1, &[1, 2]), 3), Ok(Framing::Complete));
    }

    #[test]
    fn a_byte_after_the_first_message_is_refused() {
        let mut body = frame(0, b"first");
        body.extend(frame(0, b"second"));
        for size in [1, 3, 10, 100] {
            assert_eq!(feed(&body, size), Err(ServerError::RequestExtraMessage));
        }
        let mut empty_then_more = frame(0, &[]);
        empty_then_more.push(0);
        assert_eq!(
            feed(&empty_then_more, 64),
            Err(ServerError::RequestExtraMessage)
        );
    }

    #[test]
    fn a_partial_message_is_left_to_tonic() {
        let body = frame(0, &[1; 10]);
        assert_eq!(feed(&body[..8], 3), Ok(Framing::Message { remaining: 7 }));
        assert_eq!(
            feed(&body[..3], 3),
            Ok(Framing::Prefix { seen: 3, length: 0 })
        );
        // The largest length a prefix can say is followed faithfully.
        let huge = [0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            feed(&huge, 5),
            Ok(Framing::Message {
                remaining: u64::from(u32::MAX)
            })
        );
    }
}
