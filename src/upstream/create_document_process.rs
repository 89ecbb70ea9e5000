//! `POST /processes/v1` on the ID API: a document process, either a new
//! capture (images, base64-encoded here straight into the request body) or
//! the reuse of a document captured before.

use std::fmt;

use base64::{display::Base64Display, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{
    client::UpstreamClient,
    credentials::UpstreamCredentials,
    endpoint::Endpoint,
    error::UpstreamError,
    hosts::endpoint_url,
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
        let body = encode_body(call).map_err(|e| UpstreamError::BuildRequest {
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

/// Serialises the request body in one pass into a buffer sized up front:
/// each image is base64-encoded directly into it, never into a `String` or
/// a `serde_json::Value` of its own.
pub fn encode_body(call: &CreateDocumentProcess) -> serde_json::Result<Vec<u8>> {
    let images: usize = match &call.capture {
        Capture::NewImages(images) => images.iter().map(|i| i.len().div_ceil(3) * 4 + 16).sum(),
        Capture::Reuse { .. } => 0,
    };
    let mut body = Vec::with_capacity(images + 1024);
    let subject = &call.subject;
    let request = Body {
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
            files: match &call.capture {
                Capture::NewImages(images) => Some(
                    images
                        .iter()
                        .map(|i| FileBody { data: Base64(i) })
                        .collect(),
                ),
                Capture::Reuse { .. } => None,
            },
            document_id: match &call.capture {
                Capture::Reuse { document_id } => Some(document_id),
                Capture::NewImages(_) => None,
            },
        },
        subsidiary_id: call.subsidiary_id.as_deref(),
    };
    serde_json::to_writer(&mut body, &request)?;
    Ok(body)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    subject: SubjectBody<'a>,
    document: DocumentBody<'a>,
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
struct DocumentBody<'a> {
    purpose: &'a str,
    auth_process_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<FileBody<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<&'a str>,
}

#[derive(Serialize)]
struct FileBody<'a> {
    data: Base64<'a>,
}

/// Serialises an image as a base64 string, streamed through `collect_str`
/// into the writer (base64 needs no JSON escaping).
struct Base64<'a>(&'a Image);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0.bytes(), &STANDARD))
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
