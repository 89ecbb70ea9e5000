//! A JSON request body with images in it as base64 strings, streamed: the
//! JSON around the images is serialised once (it is small), and each image
//! is base64-encoded from its own bytes, a chunk at a time, as the
//! connection asks for more. The whole body never exists in memory: a call
//! holds the image bytes it received (shared, not copied) and a chunk or two
//! of base64. The exact length is known before the first byte is sent, so
//! the request carries a `Content-Length`, as a buffered body would.
//!
//! `POST /processes/v1` sends one (`create_document_process`, which also
//! tests that the bytes are those of the buffered serialisation).

use std::{
    collections::VecDeque,
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// Raw image bytes encoded per chunk: a multiple of 3, so that only an
/// image's last chunk can carry base64 padding, and 64 KiB once encoded.
const CHUNK_INPUT_BYTES: usize = 3 * 16 * 1024;

/// The streamed body: JSON text and images to encode, in order.
#[derive(Debug)]
pub(crate) struct StreamedBody {
    parts: VecDeque<Part>,
    /// Bytes not yet handed out.
    remaining: u64,
}

enum Part {
    /// JSON text as serialised (never an image's bytes).
    Json(Bytes),
    /// An image, still to be base64-encoded from `offset` on.
    Base64 { image: Bytes, offset: usize },
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Json(json) => write!(f, "Json({} bytes)", json.len()),
            Part::Base64 { image, offset } => {
                write!(f, "Base64({} bytes from {offset})", image.len())
            }
        }
    }
}

/// The length of `len` bytes in padded standard base64.
fn base64_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

impl StreamedBody {
    /// A body of `json` with each image's base64 text inserted at its
    /// offset: `images` holds (offset in `json`, image bytes), offsets
    /// ascending.
    pub(crate) fn new(json: Bytes, images: Vec<(usize, Bytes)>) -> Self {
        let mut parts = VecDeque::with_capacity(2 * images.len() + 1);
        let mut remaining = json.len() as u64;
        let mut from = 0;
        for (at, image) in images {
            debug_assert!(from <= at && at <= json.len(), "offsets ascending");
            if at > from {
                parts.push_back(Part::Json(json.slice(from..at)));
            }
            remaining += base64_len(image.len()) as u64;
            if !image.is_empty() {
                parts.push_back(Part::Base64 { image, offset: 0 });
            }
            from = at;
        }
        if from < json.len() {
            parts.push_back(Part::Json(json.slice(from..)));
        }
        Self { parts, remaining }
    }

    /// The body's exact length in bytes (what is left of it, once reading began).
    pub(crate) fn len(&self) -> u64 {
        self.remaining
    }

    /// The next piece of the body; `None` at its end.
    fn next_chunk(&mut self) -> Option<Bytes> {
        let chunk = match self.parts.pop_front()? {
            Part::Json(json) => json,
            Part::Base64 { image, offset } => {
                let end = image.len().min(offset + CHUNK_INPUT_BYTES);
                let input = &image[offset..end];
                let mut encoded = vec![0; base64_len(input.len())];
                let written = STANDARD
                    .encode_slice(input, &mut encoded)
                    .expect("the buffer is sized for the input");
                debug_assert_eq!(written, encoded.len());
                if end < image.len() {
                    self.parts.push_front(Part::Base64 { image, offset: end });
                }
                Bytes::from(encoded)
            }
        };
        self.remaining -= chunk.len() as u64;
        Some(chunk)
    }
}

impl http_body::Body for StreamedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .next_chunk()
                .map(|chunk| Ok(Frame::data(chunk))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    /// Exact: the HTTP client sends it as the `Content-Length`.
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::task::Waker;

    use http_body::Body as _;

    use super::*;

    /// Reads a body to its end, checking its size hint before every frame;
    /// returns the chunks.
    pub(crate) fn read_all(mut body: StreamedBody) -> Vec<Bytes> {
        let mut context = Context::from_waker(Waker::noop());
        let mut chunks = Vec::new();
        loop {
            let hint = body.size_hint();
            assert_eq!(hint.exact(), Some(body.len()));
            assert_eq!(body.is_end_stream(), body.len() == 0);
            match Pin::new(&mut body).poll_frame(&mut context) {
                Poll::Ready(Some(Ok(frame))) => {
                    let chunk = frame.into_data().expect("data frames only");
                    assert!(!chunk.is_empty(), "no empty frame");
                    chunks.push(chunk);
                }
                Poll::Ready(None) => break,
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Pending => panic!("a streamed body never waits"),
            }
        }
        assert_eq!(body.len(), 0);
        chunks
    }

    #[test]
    fn images_are_encoded_at_their_offsets_in_bounded_chunks() {
        for len in [
            0,
            1,
            2,
            3,
            4,
            CHUNK_INPUT_BYTES - 1,
            CHUNK_INPUT_BYTES,
            CHUNK_INPUT_BYTES + 1,
            3 * CHUNK_INPUT_BYTES + 2,
        ] {
            let image: Bytes = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let json = Bytes::from_static(br#"{"a":[{"d":""},{"d":""}],"z":1}"#);
            // Each image goes between the quotes of an empty string.
            let (one, two) = (12, 21);
            assert_eq!(
                (&json[one - 1..=one], &json[two - 1..=two]),
                (&b"\"\""[..], &b"\"\""[..])
            );
            let body = StreamedBody::new(
                json.clone(),
                vec![(one, image.clone()), (two, image.clone())],
            );
            let expected_len = json.len() + 2 * base64_len(len);
            assert_eq!(body.len(), expected_len as u64);
            let chunks = read_all(body);
            assert!(
                chunks
                    .iter()
                    .all(|c| c.len() <= base64_len(CHUNK_INPUT_BYTES))
            );
            let encoded = STANDARD.encode(&image);
            let expected = format!(
                "{}{encoded}{}{encoded}{}",
                std::str::from_utf8(&json[..one]).unwrap(),
                std::str::from_utf8(&json[one..two]).unwrap(),
                std::str::from_utf8(&json[two..]).unwrap()
            );
            assert_eq!(chunks.concat(), expected.as_bytes(), "image of {len} bytes");
        }
    }
}
