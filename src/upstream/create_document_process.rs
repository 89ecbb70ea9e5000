//! `POST /processes/v1` on the ID API: a document process, either a new
//! capture (images, base64-encoded into the request body as it streams out)
//! or the reuse of a document captured before.

use std::{cell::Cell, fmt, io};

use base64::{display::Base64Display, engine::general_purpose::STANDARD};
use bytes::Bytes;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{
    client::UpstreamClient,
    credentials::UpstreamCredentials,
    endpoint::Endpoint,
    error::UpstreamError,
    hosts::endpoint_url,
    streamed_body::StreamedBody,
    success_body::{self, Object, SuccessBody},
};
use crate::domain::{DuiType, Gender, Image, Personal, Purpose};

/// A validated create-document-process call.
#[derive(Debug, Clone)]
pub struct CreateDocumentProcess {
    pub subject: Subject,
    pub purpose: Purpose,
    pub auth_process_id: String,
    pub capture: Capture,
    pub subsidiary_id: Option<String>,
}

/// The person the document belongs to; optional fields are left out of the
/// upstream body when absent.
#[derive(Debug, Clone)]
pub struct Subject {
    pub dui_type: DuiType,
    pub code: Personal,
    pub name: Option<Personal>,
    pub gender: Option<Gender>,
    pub birth_date: Option<Personal>,
    pub email: Option<Personal>,
    pub phone: Option<Personal>,
}

/// The two upstream flows.
#[derive(Debug, Clone)]
pub enum Capture {
    /// One or two images (front and/or back).
    NewImages(Vec<Image>),
    /// A document captured before.
    Reuse { document_id: String },
}

/// The document process the vendor created.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentProcess {
    pub id: String,
    /// The vendor's status number (3 success, 5 failure, others kept as is).
    pub status: Option<i64>,
    pub document: Option<CapturedDocument>,
}

/// A captured document and what the vendor read from it.
#[derive(Clone, PartialEq)]
pub struct CapturedDocument {
    pub id: String,
    /// The type exactly as the vendor spelled it.
    pub type_name: String,
    pub cpf_match: Option<bool>,
    pub face_match: Option<bool>,
    /// OCR fields: personal data, never printed.
    pub content: Map<String, Value>,
    pub file_urls: Vec<String>,
}

impl fmt::Debug for CapturedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapturedDocument")
            .field("id", &self.id)
            .field("type_name", &self.type_name)
            .field("cpf_match", &self.cpf_match)
            .field("face_match", &self.face_match)
            .field(
                "content",
                &format_args!("<{} redacted fields>", self.content.len()),
            )
            .field("file_urls", &self.file_urls.len())
            .finish()
    }
}

impl UpstreamClient {
    pub async fn create_document_process(
        &self,
        credentials: &UpstreamCredentials,
        call: &CreateDocumentProcess,
        budget: std::time::Duration,
    ) -> Result<DocumentProcess, UpstreamError> {
        let url = endpoint_url(self.hosts().id_api(), "/processes/v1")
            .map_err(|detail| UpstreamError::BuildRequest { detail })?;
        let body = streamed_body(call).map_err(|e| UpstreamError::BuildRequest {
            detail: e.to_string(),
        })?;
        let reply: CreateDocumentProcessReply = self
            .post_json(
                Endpoint::CreateDocumentProcess,
                url,
                credentials,
                body,
                budget,
            )
            .await?;
        Ok(reply.into_domain())
    }
}

/// The request body in one buffer sized up front, each image base64-encoded
/// straight into it: the bytes [`streamed_body`] sends, all at once (the
/// reference its test compares against, and the figure `cargo bench` prints).
pub fn encode_body(call: &CreateDocumentProcess) -> serde_json::Result<Vec<u8>> {
    let images: usize = images(call)
        .iter()
        .map(|i| i.len().div_ceil(3) * 4 + 16)
        .sum();
    let mut body = Vec::with_capacity(images + 1024);
    let files = files(call, Base64);
    serde_json::to_writer(&mut body, &request_body(call, files))?;
    Ok(body)
}

/// The request body as sent: the JSON around the images serialised once,
/// with an empty string where each image goes, then each image encoded into
/// the stream in chunks (see [`StreamedBody`]). Its length is exact.
pub(super) fn streamed_body(call: &CreateDocumentProcess) -> serde_json::Result<StreamedBody> {
    let written = Cell::new(0);
    let gaps: Vec<Cell<usize>> = images(call).iter().map(|_| Cell::new(0)).collect();
    let mut gap_of = gaps.iter();
    let files = files(call, |_| Gap {
        written: &written,
        at: gap_of.next().expect("one gap per image"),
    });
    let mut json = Counting {
        out: Vec::with_capacity(1024),
        written: &written,
    };
    serde_json::to_writer(&mut json, &request_body(call, files))?;
    let json = json.out;
    let images = gaps
        .iter()
        .zip(images(call))
        .map(|(at, image)| {
            let at = at.get();
            debug_assert_eq!(&json[at - 1..=at], b"\"\"", "the gap is an empty string");
            (at, image.shared_bytes())
        })
        .collect();
    Ok(StreamedBody::new(Bytes::from(json), images))
}

fn images(call: &CreateDocumentProcess) -> &[Image] {
    match &call.capture {
        Capture::NewImages(images) => images,
        Capture::Reuse { .. } => &[],
    }
}

/// The `files` of a new capture, each image's `data` made by `data`.
fn files<'a, D>(
    call: &'a CreateDocumentProcess,
    data: impl FnMut(&'a Image) -> D,
) -> Option<Vec<FileBody<D>>> {
    match &call.capture {
        Capture::NewImages(images) => Some(
            images
                .iter()
                .map(data)
                .map(|data| FileBody { data })
                .collect(),
        ),
        Capture::Reuse { .. } => None,
    }
}

fn request_body<D>(call: &CreateDocumentProcess, files: Option<Vec<FileBody<D>>>) -> Body<'_, D> {
    let subject = &call.subject;
    Body {
        subject: SubjectBody {
            dui_type: subject.dui_type.as_upstream(),
            code: subject.code.expose(),
            name: subject.name.as_ref().map(Personal::expose),
            gender: subject.gender.map(Gender::as_upstream),
            birth_date: subject.birth_date.as_ref().map(Personal::expose),
            email: subject.email.as_ref().map(Personal::expose),
            phone: subject.phone.as_ref().map(Personal::expose),
        },
        document: DocumentBody {
            purpose: call.purpose.as_upstream(),
            auth_process_id: &call.auth_process_id,
            files,
            document_id: match &call.capture {
                Capture::Reuse { document_id } => Some(document_id),
                Capture::NewImages(_) => None,
            },
        },
        subsidiary_id: call.subsidiary_id.as_deref(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a, D> {
    subject: SubjectBody<'a>,
    document: DocumentBody<'a, D>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subsidiary_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubjectBody<'a> {
    dui_type: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gender: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DocumentBody<'a, D> {
    purpose: &'a str,
    auth_process_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<FileBody<D>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<&'a str>,
}

#[derive(Serialize)]
struct FileBody<D> {
    data: D,
}

/// Serialises an image as a base64 string, streamed through `collect_str`
/// into the writer (base64 needs no JSON escaping).
struct Base64<'a>(&'a Image);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0.bytes(), &STANDARD))
    }
}

/// Where an image's base64 text goes: an empty string, whose closing quote's
/// offset in the output it notes. serde_json writes straight into its
/// writer, so when a value is serialised everything before it (`"data":`)
/// has been written and counted.
struct Gap<'a> {
    written: &'a Cell<usize>,
    at: &'a Cell<usize>,
}

impl Serialize for Gap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.at.set(self.written.get() + 1);
        serializer.serialize_str("")
    }
}

/// A writer into a buffer that publishes how much it holds, for [`Gap`].
struct Counting<'a> {
    out: Vec<u8>,
    written: &'a Cell<usize>,
}

impl io::Write for Counting<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(bytes);
        self.written.set(self.out.len());
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `POST /processes/v1` 200 body. A success needs the process id, and, when
/// a document is there (a failed process may have none), the document's
/// id; every other field may be absent or null, but not of another type (a
/// status that is neither a number nor a numeric string, a `cpfMatch` that
/// is not a boolean). Unknown fields and unnamed status numbers are kept
/// or ignored: the vendor adds them at will.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateDocumentProcessReply {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: Option<ProcessStatus>,
    #[serde(default)]
    document: Option<Object<CapturedDocumentBody>>,
}

/// The status: an integer on the page; a numeric string is read too.
#[derive(Deserialize)]
#[serde(untagged)]
enum ProcessStatus {
    Number(i64),
    Text(String),
}

impl SuccessBody for CreateDocumentProcessReply {
    fn missing(&self) -> Option<&'static str> {
        if self.id.trim().is_empty() {
            return Some("id");
        }
        if let Some(ProcessStatus::Text(text)) = &self.status
            && text.trim().parse::<i64>().is_err()
        {
            return Some("status");
        }
        match &self.document {
            Some(Object(document)) if document.id.trim().is_empty() => Some("document.id"),
            _ => None,
        }
    }
}

/// Decodes a 200 body the way a call does (for tests and fuzzing); the
/// error says where the body fails, never what it holds.
pub fn parse_reply(body: &[u8]) -> Result<DocumentProcess, String> {
    success_body::decode::<CreateDocumentProcessReply>(body)
        .map(CreateDocumentProcessReply::into_domain)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CapturedDocumentBody {
    #[serde(default)]
    id: String,
    #[serde(default, rename = "type")]
    type_name: Option<String>,
    #[serde(default)]
    cpf_match: Option<bool>,
    #[serde(default)]
    face_match: Option<bool>,
    #[serde(default)]
    content: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    file_urls: Option<Vec<String>>,
}

impl CreateDocumentProcessReply {
    pub(super) fn into_domain(self) -> DocumentProcess {
        let status = match self.status {
            Some(ProcessStatus::Number(n)) => Some(n),
            Some(ProcessStatus::Text(s)) => s.trim().parse().ok(),
            None => None,
        };
        DocumentProcess {
            id: self.id,
            status,
            document: self.document.map(|Object(d)| CapturedDocument {
                id: d.id,
                type_name: d.type_name.unwrap_or_default(),
                cpf_match: d.cpf_match,
                face_match: d.face_match,
                content: d.content.unwrap_or_default(),
                file_urls: d.file_urls.unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::domain::{ImageLimits, test_png};

    fn call(capture: Capture) -> CreateDocumentProcess {
        CreateDocumentProcess {
            subject: Subject {
                dui_type: DuiType::BrCpf,
                code: Personal::new("52998224725"),
                name: None,
                gender: None,
                birth_date: None,
                email: None,
                phone: None,
            },
            purpose: Purpose::Onboarding,
            auth_process_id: "auth-1".into(),
            capture,
            subsidiary_id: None,
        }
    }

    #[test]
    fn new_capture_body_has_base64_files_and_no_empty_optionals() {
        let png = test_png(640, 480, 40);
        let image = Image::parse(Bytes::from(png.clone()), &ImageLimits::default()).unwrap();
        let body = encode_body(&call(Capture::NewImages(vec![image.clone(), image]))).unwrap();
        let expected_data = STANDARD.encode(&png);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({
                "subject": {"duiType": "DUI_TYPE_BR_CPF", "code": "52998224725"},
                "document": {
                    "purpose": "onboarding",
                    "authProcessId": "auth-1",
                    "files": [{"data": expected_data}, {"data": expected_data}]
                }
            })
        );
    }

    #[test]
    fn reuse_body_has_the_document_id_and_every_optional_given() {
        let mut reuse = call(Capture::Reuse {
            document_id: "doc-1".into(),
        });
        reuse.subject.name = Some(Personal::new("Luke Skywalker"));
        reuse.subject.gender = Some(Gender::Female);
        reuse.subject.birth_date = Some(Personal::new("2000-05-20"));
        reuse.subject.email = Some(Personal::new("l@example.com"));
        reuse.subject.phone = Some(Personal::new("+5511999998888"));
        reuse.subsidiary_id = Some("sub-1".into());
        reuse.purpose = Purpose::CreditProcess;
        let body = encode_body(&reuse).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({
                "subject": {
                    "duiType": "DUI_TYPE_BR_CPF", "code": "52998224725", "name": "Luke Skywalker",
                    "gender": "F", "birthDate": "2000-05-20", "email": "l@example.com",
                    "phone": "+5511999998888"
                },
                "document": {"purpose": "creditprocess", "authProcessId": "auth-1", "documentId": "doc-1"},
                "subsidiaryId": "sub-1"
            })
        );
    }

    #[test]
    fn the_body_buffer_is_sized_once_for_the_images() {
        let png = Bytes::from(test_png(640, 480, 800 * 1024));
        let image = Image::parse(png, &ImageLimits::default()).unwrap();
        let body = encode_body(&call(Capture::NewImages(vec![image.clone(), image]))).unwrap();
        assert!(body.capacity() >= body.len());
        assert!(
            body.capacity() - body.len() < 2048,
            "no growth beyond the estimate"
        );
    }

    /// The streamed body, read to its end: its length as announced, and its bytes.
    fn streamed(call: &CreateDocumentProcess) -> (u64, Vec<u8>) {
        let body = streamed_body(call).unwrap();
        let announced = body.len();
        let bytes = crate::upstream::streamed_body::tests::read_all(body).concat();
        (announced, bytes)
    }

    #[test]
    fn the_streamed_body_is_the_buffered_serialisation_byte_for_byte() {
        // Image lengths of each remainder modulo 3, around the encoding chunk
        // and at the maximum, alone, in pairs of different lengths, and none.
        let lengths = [57, 58, 59, 49_151, 49_152, 49_153, 98_305, 800 * 1024];
        let mut captures: Vec<Vec<usize>> = lengths.iter().map(|&len| vec![len]).collect();
        captures.push(vec![800 * 1024, 800 * 1024]);
        captures.push(vec![58, 800 * 1024 - 1]);
        captures.push(vec![49_153, 59]);
        captures.push(vec![]);
        for lengths in captures {
            let images = lengths
                .iter()
                .map(|&len| {
                    let mut png = test_png(640, 480, len);
                    png.iter_mut()
                        .skip(33)
                        .enumerate()
                        .for_each(|(i, b)| *b = (i * 31 % 251) as u8);
                    Image::parse(Bytes::from(png), &ImageLimits::default()).unwrap()
                })
                .collect();
            let mut new_capture = call(Capture::NewImages(images));
            // Text that JSON must escape, around the images.
            new_capture.subject.name = Some(Personal::new("Jo\"ão\\ \u{1}\n D'Ávila"));
            new_capture.subsidiary_id = Some("sub-\"1\"".into());
            let buffered = encode_body(&new_capture).unwrap();
            let (announced, bytes) = streamed(&new_capture);
            assert!(
                bytes == buffered,
                "images of {lengths:?} bytes: the bodies differ"
            );
            assert_eq!(
                announced,
                buffered.len() as u64,
                "images of {lengths:?} bytes"
            );
        }
    }

    #[test]
    fn the_streamed_reuse_body_is_the_buffered_one() {
        let mut reuse = call(Capture::Reuse {
            document_id: "doc-\"1".into(),
        });
        reuse.subject.email = Some(Personal::new("l@example.com"));
        reuse.subsidiary_id = Some("sub-1".into());
        let buffered = encode_body(&reuse).unwrap();
        let (announced, bytes) = streamed(&reuse);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            String::from_utf8(buffered.clone()).unwrap()
        );
        assert_eq!(announced, buffered.len() as u64);
    }

    #[test]
    fn the_streamed_body_shares_the_image_bytes_and_holds_no_copy() {
        let image = Image::parse(
            Bytes::from(test_png(640, 480, 800 * 1024)),
            &ImageLimits::default(),
        )
        .unwrap();
        let call = call(Capture::NewImages(vec![image.clone()]));
        let body = streamed_body(&call).unwrap();
        // The JSON around the image is all the body owns of its own.
        let described = format!("{body:?}");
        assert!(
            described.contains("Base64(819200 bytes from 0)"),
            "{described}"
        );
        let chunks = crate::upstream::streamed_body::tests::read_all(body);
        assert!(chunks.len() > 10, "encoded in chunks, not at once");
    }

    #[test]
    fn captured_documents_do_not_print_their_content() {
        let document = CapturedDocument {
            id: "d".into(),
            type_name: "CNH".into(),
            cpf_match: Some(true),
            face_match: None,
            content: json!({"nomeCivil": "Luke"}).as_object().unwrap().clone(),
            file_urls: vec![],
        };
        assert!(!format!("{document:?}").contains("Luke"));
    }

    #[test]
    fn a_success_has_the_process_id_and_a_document_with_its_id() {
        let page = br#"{"id":"80371b2a","status":3,"document":{"id":"doc-abc-123",
            "type":"unico.moja.dictionary.br.cnh.v2.Cnh","cpfMatch":true,"faceMatch":true,
            "content":{"numero":"12345678"},"fileUrls":["https://storage.example/front.jpg"]}}"#;
        let ok = parse_reply(page).unwrap();
        assert_eq!((ok.id.as_str(), ok.status), ("80371b2a", Some(3)));
        let document = ok.document.unwrap();
        assert_eq!(document.id, "doc-abc-123");
        assert_eq!(document.cpf_match, Some(true));
        let tolerated = [
            // A failed process without a document; unnamed status numbers.
            &br#"{"id":"p","status":5}"#[..],
            br#"{"id":"p","status":7,"document":null}"#,
            br#"{"id":"p","status":"3"}"#,
            br#"{"id":"p"}"#,
            br#"{"id":"p","status":null,"document":{"id":"d","type":null,"cpfMatch":null,"content":null,"fileUrls":null}}"#,
            br#"{"id":"p","document":{"id":"d","type":"unico.future.v9.Future","extra":{"a":[1]}},"new":true}"#,
        ];
        for body in tolerated {
            assert!(
                parse_reply(body).is_ok(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn empty_or_other_shapes_are_not_a_success() {
        let refused = [
            &br#"{}"#[..],
            br#"[]"#,
            br#"["p", 3]"#,
            br#"{"id":""}"#,
            br#"{"id":null}"#,
            br#"{"id":"p","status":"done"}"#,
            br#"{"id":"p","status":true}"#,
            br#"{"id":"p","status":3.5}"#,
            br#"{"id":"p","document":{}}"#,
            br#"{"id":"p","document":{"id":""}}"#,
            br#"{"id":"p","document":["d"]}"#,
            br#"{"id":"p","document":{"id":"d","cpfMatch":"yes"}}"#,
            br#"{"id":"p","document":{"id":"d","content":["a"]}}"#,
            br#"{"id":"p","document":{"id":"d","fileUrls":"https://x"}}"#,
            b"null",
        ];
        for body in refused {
            assert!(
                parse_reply(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(parse_reply(br#"{}"#).unwrap_err(), "id missing or empty");
        assert_eq!(
            parse_reply(br#"{"id":"p","document":{"type":"x"}}"#).unwrap_err(),
            "document.id missing or empty"
        );
    }
}
