//! What must hold for any input, one function per fuzz target. Shared by the
//! fuzz targets (`fuzz_targets/*.rs`, run with cargo-fuzz) and by the corpus
//! replay in the facade's own tests (`tests/api/fuzz_corpus.rs`), so that
//! every input the fuzzer kept is checked by `cargo test`.
//!
//! Each check panics on a broken property; none may panic otherwise.

use std::time::Duration;

use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;
use unico_facade::{
    credentials::Origin,
    domain::ImageFormat,
    pb::identity_v1::{
        CreateDocumentProcessRequest, CreateDocumentProcessResponse, Document, DocumentFile,
        DocumentSubmission, DuiType, NewCapture, Purpose, SetProcessDocumentRequest, Subject,
        document_submission::Capture,
    },
    service::{RequestId, content, parse_grpc_timeout},
    status::{CallContext, ERROR_DOMAIN, FacadeError, VENDOR_ROWS, to_status},
    upstream::{
        Endpoint, UpstreamError, VendorCode, VendorError, error_body,
        parse_create_document_process_reply, parse_set_process_document_reply,
    },
    validation::{self, ImageLimits},
};

/// Where a vendor error came from and what it said: the first two bytes
/// pick the endpoint, the credentials' origin, a reuse, and the HTTP status.
pub(crate) fn error_body(data: &[u8]) {
    let (head, body) = data.split_at(data.len().min(2));
    let selector = head.first().copied().unwrap_or(0);
    let http_status = 400 + u16::from(head.get(1).copied().unwrap_or(0)) % 200;
    let parsed = error_body::parse(body);
    if let Some(message) = &parsed.message {
        // Lossy UTF-8 turns one bad byte into three.
        assert!(message.len() <= 3 * body.len(), "a message out of nowhere");
    }
    if let Some(code) = &parsed.code {
        assert_code_is_bounded(code);
    }
    let endpoint = if selector & 1 == 0 {
        Endpoint::SetProcessDocument
    } else {
        Endpoint::CreateDocumentProcess
    };
    let error = FacadeError::Upstream {
        endpoint,
        origin: if selector & 2 == 0 {
            Origin::Caller
        } else {
            Origin::Facade
        },
        context: CallContext {
            resource_name: Some("proc-1".to_owned()),
            precondition_subject: None,
            reusing_document: selector & 4 != 0,
        },
        error: UpstreamError::Vendor(VendorError {
            http_status,
            code: parsed.code.clone(),
            message: parsed.message.clone(),
            retry_after: (selector & 8 != 0).then_some(Duration::from_secs(3)),
            body_excerpt: String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned(),
        }),
    };
    let (status, summary) = to_status(&error, Some("req-1"));
    let details = status.get_error_details();
    let info = details.error_info().expect("every error carries ErrorInfo");
    assert_eq!(info.domain, ERROR_DOMAIN);
    assert_eq!(info.reason, summary.reason);
    assert_stable_reason(&info.reason);
    assert_eq!(info.metadata["origin"], "upstream");
    assert_eq!(info.metadata["upstreamHttpStatus"], http_status.to_string());
    if let Some(code) = info.metadata.get("upstreamCode") {
        assert!(code.len() <= 48, "upstreamCode of {} bytes", code.len());
    }
    assert_ne!(status.code(), Code::Ok);
    // The status message is the table's English, never the vendor's text.
    let message = status.message();
    let from_table = VENDOR_ROWS.iter().any(|row| row.summary == message)
        || message == format!("the upstream answered HTTP {http_status} unexpectedly")
        || message == "the vendor rejected the facade's own credentials"
        || message == "the facade's tenant is not configured at the vendor for this call";
    assert!(
        from_table,
        "a status message not from the table: {message:?}"
    );
    assert_eq!(details.request_info().unwrap().request_id, "req-1");
}

/// A kept code is a number, a short dotted code, a word code or the
/// placeholder: nothing that could carry a name or an identifier.
fn assert_code_is_bounded(code: &VendorCode) {
    if let VendorCode::Text(text) = code {
        let dotted = text.len() <= 32
            && text.split('.').count() >= 2
            && text
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let word = text.len() <= 48
            && text.contains('_')
            && text.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
        let placeholder = text == error_body::UNRECOGNIZED_TEXT_CODE;
        assert!(dotted || word || placeholder, "text code {text:?} kept");
    }
}

fn assert_stable_reason(reason: &str) {
    assert!(
        !reason.is_empty() && reason.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
        "{reason:?}"
    );
}

/// `grpc-timeout`: exactly 1 to 8 ASCII digits and a unit, against a
/// reference computed in 128-bit nanoseconds.
pub(crate) fn grpc_timeout(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_grpc_timeout(text);
    let bytes = text.as_bytes();
    let expected = match bytes.split_last() {
        Some((unit, digits))
            if (1..=8).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) =>
        {
            let amount: u128 = text[..digits.len()].parse().unwrap();
            let nanos_per = match unit {
                b'H' => Some(3_600_000_000_000u128),
                b'M' => Some(60_000_000_000),
                b'S' => Some(1_000_000_000),
                b'm' => Some(1_000_000),
                b'u' => Some(1_000),
                b'n' => Some(1),
                _ => None,
            };
            nanos_per.map(|n| amount * n)
        }
        _ => None,
    };
    assert_eq!(parsed.map(|d| d.as_nanos()), expected, "{text:?}");
}

/// `x-request-id`: kept only when it is a plain token, otherwise replaced.
pub(crate) fn request_id(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let sane = (1..=128).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b));
        assert_eq!(RequestId::parse(text).is_some(), sane, "{text:?}");
    }
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        headers.insert("x-request-id", value);
    }
    let id = RequestId::from_headers(&headers);
    assert!(
        RequestId::parse(id.as_str()).is_some(),
        "an unsafe id {:?}",
        id.as_str()
    );
}

/// Request validation, from arbitrary protobuf: a refusal is
/// INVALID_ARGUMENT with a BadRequest whose reasons are stable, and no text
/// it writes (a violation's description, the status message, an accepted
/// call's `Debug`) echoes the personal values it was given.
///
/// Echoing is told from coincidence (a description's own example phone
/// number, which a value may happen to match) by validating a twin request
/// whose personal values have every letter and digit shifted: a text echoes
/// a value when it holds the value and its twin holds the shifted value.
pub(crate) fn request_validation(data: &[u8]) {
    let (selector, bytes) = data.split_first().unwrap_or((&0, &[]));
    if selector & 1 == 0 {
        let Ok(request) = SetProcessDocumentRequest::decode(bytes) else {
            return;
        };
        let mut twin = request.clone();
        twin.dui_value = shifted(&twin.dui_value);
        let texts =
            |request: &SetProcessDocumentRequest| match validation::set_process_document(request) {
                Ok(call) => vec![("call".to_owned(), format!("{call:?}"))],
                Err(invalid) => refusal_texts(invalid),
            };
        assert_not_echoed(
            &texts(&request),
            &texts(&twin),
            &[request.dui_value.as_str()],
        );
    } else {
        let Ok(request) = CreateDocumentProcessRequest::decode(bytes) else {
            return;
        };
        let mut twin = request.clone();
        if let Some(subject) = twin.subject.as_mut() {
            for value in [
                &mut subject.code,
                &mut subject.name,
                &mut subject.email,
                &mut subject.phone,
                &mut subject.birth_date,
            ] {
                *value = shifted(value);
            }
        }
        let texts =
            |request: &CreateDocumentProcessRequest| match validation::create_document_process(
                request,
                &ImageLimits::default(),
            ) {
                Ok(call) => vec![("call".to_owned(), format!("{call:?}"))],
                Err(invalid) => refusal_texts(invalid),
            };
        let subject = request.subject.clone().unwrap_or_default();
        let personal = [
            subject.code.as_str(),
            subject.name.as_str(),
            subject.email.as_str(),
            subject.phone.as_str(),
            subject.birth_date.as_str(),
        ];
        assert_not_echoed(&texts(&request), &texts(&twin), &personal);
    }
}

/// Every letter and digit moved one step (`a`→`b`, `z`→`a`, `9`→`0`).
fn shifted(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
            other => other,
        })
        .collect()
}

/// No text holds a value while its twin holds the shifted value.
fn assert_not_echoed(texts: &[(String, String)], twins: &[(String, String)], personal: &[&str]) {
    for value in personal.iter().filter(|v| v.chars().count() >= 4) {
        let twin_value = shifted(value);
        if twin_value == *value {
            continue;
        }
        for (key, text) in texts {
            let echoed = text.contains(*value)
                && twins
                    .iter()
                    .any(|(twin_key, twin)| twin_key == key && twin.contains(&twin_value));
            assert!(!echoed, "{value:?} echoed in {key}: {text:?}");
        }
    }
}

/// A refusal's texts, keyed by field and rule, after the checks every
/// refusal passes.
fn refusal_texts(invalid: validation::InvalidRequest) -> Vec<(String, String)> {
    assert!(!invalid.violations.is_empty());
    let mut texts: Vec<(String, String)> = invalid
        .violations
        .iter()
        .map(|v| {
            assert!(!v.field.is_empty());
            (format!("{} {:?}", v.field, v.rule), v.description.clone())
        })
        .collect();
    let (status, summary) = to_status(&FacadeError::InvalidRequest(invalid), Some("req-1"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(summary.local);
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_stable_reason(&info.reason);
    let violations = &details.bad_request().expect("BadRequest").field_violations;
    assert!(!violations.is_empty());
    assert_eq!(
        violations[0].reason, info.reason,
        "ErrorInfo names the first violation"
    );
    for violation in violations {
        assert_stable_reason(&violation.reason);
    }
    texts.push(("message".to_owned(), status.message().to_owned()));
    texts
}

/// Image header reading, through a request with the input as its one file:
/// the verdict agrees with the format sniffer and an independent header
/// reader, and names the file.
pub(crate) fn image_header(data: &[u8]) {
    let limits = ImageLimits::default();
    let request = CreateDocumentProcessRequest {
        subject: Some(Subject {
            dui_type: DuiType::BrCpf as i32,
            code: "52998224725".to_owned(),
            ..Subject::default()
        }),
        document: Some(DocumentSubmission {
            purpose: Purpose::Onboarding as i32,
            auth_process_id: "auth-1".to_owned(),
            capture: Some(Capture::NewCapture(NewCapture {
                files: vec![DocumentFile {
                    data: data.to_vec().into(),
                }],
            })),
        }),
        subsidiary_id: String::new(),
        request_id: String::new(),
    };
    match validation::create_document_process(&request, &limits) {
        Ok(_) => {
            assert!(!data.is_empty() && data.len() <= limits.max_bytes);
            assert!(ImageFormat::sniff(data).is_some());
            let size = imagesize::blob_size(data).expect("a readable header");
            let (long, short) = (size.width.max(size.height), size.width.min(size.height));
            assert!(long >= limits.min_long_side && short >= limits.min_short_side);
        }
        Err(invalid) => {
            assert_eq!(invalid.violations.len(), 1, "{invalid:?}");
            let violation = &invalid.violations[0];
            assert_eq!(violation.field, "document.new_capture.files[0].data");
            assert_eq!(
                data.is_empty(),
                violation.rule == validation::Rule::ImageMissing
            );
            if ImageFormat::sniff(data).is_none()
                && !data.is_empty()
                && data.len() <= limits.max_bytes
            {
                assert_eq!(violation.rule, validation::Rule::ImageFormatUnsupported);
            }
        }
    }
}

/// The success decoders of both endpoints: a body is a success only with
/// its ids; a refusal says where, never what; the OCR content of a success
/// always makes an answer a protobuf client decodes, within the size bound.
pub(crate) fn success_bodies(data: &[u8]) {
    let (selector, body) = data.split_first().unwrap_or((&0, &[]));
    let refusal = if selector & 1 == 0 {
        match parse_set_process_document_reply(body) {
            Ok(process) => {
                assert!(!process.id.trim().is_empty());
                return;
            }
            Err(refusal) => refusal,
        }
    } else {
        match parse_create_document_process_reply(body) {
            Ok(process) => {
                assert!(!process.id.trim().is_empty());
                if let Some(document) = process.document {
                    assert!(!document.id.trim().is_empty());
                    assert_content_fits_clients(document.content);
                }
                return;
            }
            Err(refusal) => refusal,
        }
    };
    let shaped = refusal.ends_with(" missing or empty") || refusal.contains(" error at line ");
    assert!(
        shaped && refusal.is_ascii() && refusal.len() < 80,
        "{refusal:?}"
    );
}

fn assert_content_fits_clients(object: serde_json::Map<String, serde_json::Value>) {
    let converted = content::to_struct(object);
    assert!(converted.value.encoded_len() <= content::MAX_ENCODED_BYTES);
    let response = CreateDocumentProcessResponse {
        id: "p".to_owned(),
        status: 3,
        document: Some(Document {
            id: "d".to_owned(),
            content: Some(converted.value),
            ..Document::default()
        }),
    };
    CreateDocumentProcessResponse::decode(response.encode_to_vec().as_slice())
        .expect("a client decodes the answer");
}
