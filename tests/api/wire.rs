//! gRPC at the HTTP/2 level, for what tonic's client never sends: headers
//! without a message, a message that comes late, two messages, broken
//! frames, other content types and methods (the `h2` crate); and raw frames
//! for header bytes no HTTP library will encode.

use std::{net::SocketAddr, time::Duration};

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::{ResponseFuture, SendRequest};
use http::{HeaderMap, StatusCode};
use prost::Message;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Status;

use crate::helpers::{TOKEN, set_cpf};

pub(crate) const SET_DOCUMENT: &str = "/unico.identity.v1.ProcessService/SetProcessDocument";

/// One HTTP/2 connection to the facade.
pub(crate) struct Wire {
    send: SendRequest<Bytes>,
}

impl Wire {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("connects");
        let (send, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let send = send.ready().await.expect("ready");
        Self { send }
    }

    /// SETTINGS_MAX_CONCURRENT_STREAMS as the server advertised it, once
    /// its SETTINGS arrived.
    pub(crate) async fn max_concurrent_streams(&mut self) -> usize {
        for _ in 0..200 {
            let max = self.send.current_max_send_streams();
            if max != usize::MAX {
                return max;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no SETTINGS_MAX_CONCURRENT_STREAMS from the server");
    }

    /// Sends the request's headers; the body is the caller's to send.
    pub(crate) async fn open(
        &mut self,
        request: http::Request<()>,
        end_of_stream: bool,
    ) -> (ResponseFuture, h2::SendStream<Bytes>) {
        self.send = self.send.clone().ready().await.expect("stream capacity");
        self.send
            .send_request(request, end_of_stream)
            .expect("request sent")
    }

    /// A whole call: headers and `body` at once.
    pub(crate) async fn call(&mut self, request: http::Request<()>, body: Bytes) -> Answer {
        let (response, mut stream) = self.open(request, body.is_empty()).await;
        if !body.is_empty() {
            stream.send_data(body, true).expect("body sent");
        }
        Answer::of(response).await
    }
}

/// A gRPC POST to `path` with the emulator's token and a request id.
pub(crate) fn grpc_post(path: &str) -> http::request::Builder {
    post(path, "application/grpc")
}

/// Like [`grpc_post`], with another content type.
pub(crate) fn post(path: &str, content_type: &str) -> http::request::Builder {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://facade{path}"))
        .header("content-type", content_type)
        .header("te", "trailers")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("x-request-id", "hostile-1")
}

/// A length-prefixed gRPC frame.
pub(crate) fn frame(flag: u8, message: &[u8]) -> Bytes {
    let mut bytes = BytesMut::with_capacity(5 + message.len());
    bytes.put_u8(flag);
    bytes.put_u32(message.len() as u32);
    bytes.put_slice(message);
    bytes.freeze()
}

/// A valid SetProcessDocument message for `process_id`, framed.
pub(crate) fn set_document_frame(process_id: &str) -> Bytes {
    frame(0, &set_cpf(process_id).encode_to_vec())
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) http_status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// From the trailers, or the headers of a trailers-only answer.
    pub(crate) status: Option<Status>,
}

impl Answer {
    pub(crate) async fn of(response: ResponseFuture) -> Self {
        let response = response.await.expect("a response");
        let (parts, mut body) = response.into_parts();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("body");
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let trailers = body.trailers().await.ok().flatten();
        let status = Status::from_header_map(&parts.headers)
            .or_else(|| trailers.as_ref().and_then(Status::from_header_map));
        Self {
            http_status: parts.status,
            headers: parts.headers,
            status,
        }
    }

    pub(crate) fn status(&self) -> &Status {
        self.status.as_ref().expect("a grpc-status")
    }
}

// ---- Raw frames ------------------------------------------------------------

/// Frame types and flags of RFC 9113 used below.
pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
/// SETTINGS_MAX_FRAME_SIZE's default: what a frame may carry.
const MAX_FRAME: usize = 16 * 1024;
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

/// An HTTP/2 connection spoken by hand: header blocks are HPACK literals
/// (no indexing, no Huffman), so any byte can be put in a value.
pub(crate) struct RawConnection {
    tcp: TcpStream,
    buffer: BytesMut,
}

/// A frame as read.
#[derive(Debug)]
pub(crate) struct RawFrame {
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) payload: Bytes,
}

impl RawConnection {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let mut tcp = TcpStream::connect(addr).await.expect("connects");
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut connection = Self {
            tcp,
            buffer: BytesMut::new(),
        };
        connection.write_frame(SETTINGS, 0, 0, &[]).await;
        connection
    }

    pub(crate) async fn write_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut frame = BytesMut::with_capacity(9 + payload.len());
        frame.put_uint(payload.len() as u64, 3);
        frame.put_u8(kind);
        frame.put_u8(flags);
        frame.put_u32(stream);
        frame.put_slice(payload);
        self.tcp.write_all(&frame).await.expect("frame written");
    }

    /// A request's headers (pseudo-headers first): a HEADERS frame, then
    /// CONTINUATION frames for a block over the maximum frame size.
    pub(crate) async fn headers(
        &mut self,
        stream: u32,
        fields: &[(&[u8], &[u8])],
        end_stream: bool,
    ) {
        let mut block = BytesMut::new();
        for (name, value) in fields {
            // Literal header field without indexing, new name (RFC 7541 6.2.2).
            block.put_u8(0x00);
            hpack_string(&mut block, name);
            hpack_string(&mut block, value);
        }
        let chunks: Vec<&[u8]> = block.chunks(MAX_FRAME).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = if i + 1 == chunks.len() {
                END_HEADERS
            } else {
                0
            };
            let (kind, flags) = match i {
                0 => (HEADERS, last | if end_stream { END_STREAM } else { 0 }),
                _ => (CONTINUATION, last),
            };
            self.write_frame(kind, flags, stream, chunk).await;
        }
    }

    /// Reads frames until a GOAWAY; its error code.
    pub(crate) async fn goaway_code(&mut self) -> u32 {
        loop {
            let frame = self
                .next_frame(Duration::from_secs(3))
                .await
                .expect("a GOAWAY before the connection closes");
            if frame.kind == GOAWAY {
                assert_eq!(frame.stream, 0, "GOAWAY is on stream 0");
                return u32::from_be_bytes(frame.payload[4..8].try_into().unwrap());
            }
        }
    }

    /// A gRPC call's headers with these extra fields.
    pub(crate) async fn grpc_headers(&mut self, stream: u32, path: &str, extra: &[(&[u8], &[u8])]) {
        let authorization = format!("Bearer {TOKEN}");
        let mut fields: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.as_bytes()),
            (b":authority", b"facade"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"authorization", authorization.as_bytes()),
        ];
        fields.extend_from_slice(extra);
        self.headers(stream, &fields, false).await;
    }

    /// The next frame, answering SETTINGS and PING on the way; `None` when
    /// the server closed the connection or nothing came within `wait`.
    pub(crate) async fn next_frame(&mut self, wait: Duration) -> Option<RawFrame> {
        loop {
            if let Some(frame) = self.parse() {
                match (frame.kind, frame.flags & ACK) {
                    (SETTINGS, 0) => self.write_frame(SETTINGS, ACK, 0, &[]).await,
                    (PING, 0) => {
                        let payload = frame.payload.clone();
                        self.write_frame(PING, ACK, 0, &payload).await;
                    }
                    _ => return Some(frame),
                }
                continue;
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout(wait, self.tcp.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn parse(&mut self) -> Option<RawFrame> {
        if self.buffer.len() < 9 {
            return None;
        }
        let length = (usize::from(self.buffer[0]) << 16)
            | (usize::from(self.buffer[1]) << 8)
            | usize::from(self.buffer[2]);
        if self.buffer.len() < 9 + length {
            return None;
        }
        let head = self.buffer.split_to(9);
        let payload = self.buffer.split_to(length).freeze();
        Some(RawFrame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        })
    }
}

/// An HPACK string literal, without Huffman coding (RFC 7541 5.2).
fn hpack_string(block: &mut BytesMut, bytes: &[u8]) {
    hpack_integer(block, bytes.len(), 7, 0x00);
    block.put_slice(bytes);
}

/// An HPACK integer with an `prefix`-bit prefix (RFC 7541 5.1).
fn hpack_integer(block: &mut BytesMut, mut value: usize, prefix: u8, first_bits: u8) {
    let max = (1usize << prefix) - 1;
    if value < max {
        block.put_u8(first_bits | value as u8);
        return;
    }
    block.put_u8(first_bits | max as u8);
    value -= max;
    while value >= 128 {
        block.put_u8((value % 128 + 128) as u8);
        value /= 128;
    }
    block.put_u8(value as u8);
}
