//! CreateDocumentProcess: the subject, the purpose, the biometric process,
//! and exactly one flow (one or two new images, or a document to reuse).

use super::{
    Collector, InvalidRequest, Rule,
    identifiers::{self, CodeProblem},
    image,
};
use crate::{
    domain::{DuiType, Gender, ImageLimits, Personal, Purpose},
    pb::identity_v1::{self as pb, document_submission::Capture as PbCapture},
    upstream::{Capture, CreateDocumentProcess, Subject},
};

/// Front and back: the most images one capture takes.
pub const MAX_FILES: usize = 2;

pub fn create_document_process(
    request: &pb::CreateDocumentProcessRequest,
    limits: &ImageLimits,
) -> Result<CreateDocumentProcess, InvalidRequest> {
    let mut errors = Collector::default();
    let subject = match &request.subject {
        Some(subject) => check_subject(subject, &mut errors),
        None => {
            errors.push("subject", Rule::SubjectMissing, "subject is required");
            None
        }
    };
    let document = match &request.document {
        Some(document) => check_document(document, limits, &mut errors),
        None => {
            errors.push("document", Rule::DocumentMissing, "document is required");
            None
        }
    };
    let subsidiary_id = optional(&request.subsidiary_id).map(str::to_owned);
    let call = subject
        .zip(document)
        .map(
            |(subject, (purpose, auth_process_id, capture))| CreateDocumentProcess {
                subject,
                purpose,
                auth_process_id,
                capture,
                subsidiary_id,
            },
        );
    errors.finish(call)
}

fn optional(value: &str) -> Option<&str> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then_some(value)
}

fn check_subject(subject: &pb::Subject, errors: &mut Collector) -> Option<Subject> {
    let dui_type = match pb::DuiType::try_from(subject.dui_type)
        .ok()
        .and_then(|t| DuiType::try_from(t).ok())
    {
        Some(t) => Some(t),
        None => {
            errors.push(
                "subject.dui_type",
                Rule::SubjectDuiTypeMissing,
                "subject.dui_type is required and must be a known DuiType",
            );
            None
        }
    };
    let code = match dui_type {
        Some(dui_type) => identifiers::normalized_code(dui_type, &subject.code),
        None => subject.code.clone(),
    };
    if code.trim().is_empty() {
        errors.push(
            "subject.code",
            Rule::SubjectCodeMissing,
            "subject.code is required",
        );
    } else if let Some(dui_type) = dui_type {
        match identifiers::check_code(dui_type, &code) {
            Ok(()) => {}
            Err(CodeProblem::Formatted) => errors.push(
                "subject.code",
                Rule::SubjectCodeInvalid,
                "subject.code must not contain formatting symbols (dots, dashes, slashes, spaces); remove them",
            ),
            Err(CodeProblem::Malformed) => errors.push(
                "subject.code",
                Rule::SubjectCodeInvalid,
                format!("subject.code is not valid for its type: {}", identifiers::code_shape(dui_type)),
            ),
        }
    }
    let name = optional(&subject.name);
    if name.is_some_and(|n| !identifiers::is_valid_name(n)) {
        errors.push(
            "subject.name",
            Rule::SubjectNameInvalid,
            "subject.name must not contain control characters or `<` `>`",
        );
    }
    let gender = match pb::Gender::try_from(subject.gender) {
        Ok(gender) => Gender::try_from(gender).ok(),
        Err(_) => {
            errors.push(
                "subject.gender",
                Rule::SubjectGenderInvalid,
                "subject.gender is not a known Gender",
            );
            None
        }
    };
    let birth_date = optional(&subject.birth_date);
    if birth_date.is_some_and(|d| !identifiers::is_valid_birth_date(d)) {
        errors.push(
            "subject.birth_date",
            Rule::SubjectBirthDateInvalid,
            "subject.birth_date must be a real date as YYYY-MM-DD",
        );
    }
    let email = optional(&subject.email);
    if email.is_some_and(|e| !identifiers::is_valid_email(e)) {
        errors.push(
            "subject.email",
            Rule::SubjectEmailInvalid,
            "subject.email is not a valid e-mail address",
        );
    }
    let phone = optional(&subject.phone).and_then(|p| {
        let digits = identifiers::phone_digits(p);
        if digits.is_none() {
            errors.push(
                "subject.phone",
                Rule::SubjectPhoneInvalid,
                "subject.phone must be in E.164 format: an optional + and 8 to 15 digits, no symbols, e.g. 5511999998888",
            );
        }
        digits
    });
    Some(Subject {
        dui_type: dui_type?,
        code: Personal::new(code),
        name: name.map(Personal::new),
        gender,
        birth_date: birth_date.map(Personal::new),
        email: email.map(Personal::new),
        phone: phone.map(Personal::new),
    })
}

fn check_document(
    document: &pb::DocumentSubmission,
    limits: &ImageLimits,
    errors: &mut Collector,
) -> Option<(Purpose, String, Capture)> {
    let purpose = match pb::Purpose::try_from(document.purpose)
        .ok()
        .and_then(|p| Purpose::try_from(p).ok())
    {
        Some(purpose) => Some(purpose),
        None => {
            errors.push(
                "document.purpose",
                Rule::PurposeInvalid,
                "document.purpose is required and must be a known Purpose",
            );
            None
        }
    };
    let auth_process_id = Some(document.auth_process_id.as_str()).filter(|id| is_sane_id(id));
    if auth_process_id.is_none() {
        errors.push(
            "document.auth_process_id",
            Rule::AuthProcessIdInvalid,
            "document.auth_process_id is required: the biometric process id, without control characters",
        );
    }
    let capture = match &document.capture {
        None => {
            errors.push(
                "document.new_capture.files",
                Rule::CaptureMissing,
                "document needs new_capture.files or reuse.document_id",
            );
            None
        }
        Some(PbCapture::NewCapture(capture)) => check_files(&capture.files, limits, errors),
        Some(PbCapture::Reuse(reuse)) => {
            if is_sane_id(&reuse.document_id) {
                Some(Capture::Reuse {
                    document_id: reuse.document_id.clone(),
                })
            } else {
                errors.push(
                    "document.reuse.document_id",
                    Rule::CaptureMissing,
                    "document.reuse.document_id is required, without control characters",
                );
                None
            }
        }
    };
    Some((purpose?, auth_process_id?.to_owned(), capture?))
}

/// An id the vendor issued (a UUID in practice): required, and free of
/// control characters, which no issued id holds. The page states no length,
/// so none is imposed here (the request size limit bounds it).
fn is_sane_id(id: &str) -> bool {
    !id.trim().is_empty() && !id.chars().any(char::is_control)
}

fn check_files(
    files: &[pb::DocumentFile],
    limits: &ImageLimits,
    errors: &mut Collector,
) -> Option<Capture> {
    if files.is_empty() {
        errors.push(
            "document.new_capture.files",
            Rule::CaptureMissing,
            "document.new_capture.files needs one or two images (front and/or back)",
        );
        return None;
    }
    if files.len() > MAX_FILES {
        errors.push(
            "document.new_capture.files",
            Rule::TooManyFiles,
            format!("document.new_capture.files takes at most {MAX_FILES} images (front and back)"),
        );
        return None;
    }
    image::parse_all(files, limits, errors).map(Capture::NewImages)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::domain::test_png as png;

    fn valid() -> pb::CreateDocumentProcessRequest {
        pb::CreateDocumentProcessRequest {
            subject: Some(pb::Subject {
                dui_type: pb::DuiType::BrCpf as i32,
                code: "52998224725".into(),
                ..Default::default()
            }),
            document: Some(pb::DocumentSubmission {
                purpose: pb::Purpose::Onboarding as i32,
                auth_process_id: "auth-face-match".into(),
                capture: Some(PbCapture::NewCapture(pb::NewCapture {
                    files: vec![pb::DocumentFile {
                        data: Bytes::from(png(1280, 720, 2048)),
                    }],
                })),
            }),
            subsidiary_id: String::new(),
            request_id: String::new(),
        }
    }

    fn violations(request: &pb::CreateDocumentProcessRequest) -> Vec<(String, Rule)> {
        create_document_process(request, &ImageLimits::default())
            .unwrap_err()
            .violations
            .into_iter()
            .map(|v| (v.field, v.rule))
            .collect()
    }

    #[test]
    fn a_valid_request_becomes_a_call_sharing_the_image_bytes() {
        let request = valid();
        let call = create_document_process(&request, &ImageLimits::default()).unwrap();
        let Capture::NewImages(images) = &call.capture else {
            panic!("new capture");
        };
        let PbCapture::NewCapture(capture) = request.document.unwrap().capture.unwrap() else {
            unreachable!()
        };
        assert_eq!(
            images[0].bytes().as_ptr(),
            capture.files[0].data.as_ptr(),
            "no copy"
        );
        assert_eq!(call.subsidiary_id, None);
    }

    #[test]
    fn images_decoded_from_the_wire_point_into_the_received_buffer() {
        use prost::Message as _;
        // tonic decodes a message from one buffer holding all of it; image
        // fields are `Bytes` (build.rs), so decoding slices that buffer.
        let wire = Bytes::from(valid().encode_to_vec());
        let request = pb::CreateDocumentProcessRequest::decode(wire.clone()).unwrap();
        let call = create_document_process(&request, &ImageLimits::default()).unwrap();
        let Capture::NewImages(images) = &call.capture else {
            panic!("new capture");
        };
        let received = wire.as_ptr_range();
        let image = images[0].bytes().as_ptr_range();
        assert!(
            received.start <= image.start && image.end <= received.end,
            "the image is a slice of the received message, not a copy"
        );
    }

    #[test]
    fn every_file_is_checked_and_named_by_index() {
        let mut request = valid();
        if let Some(PbCapture::NewCapture(c)) = &mut request.document.as_mut().unwrap().capture {
            c.files = vec![
                pb::DocumentFile {
                    data: Bytes::from(png(100, 100, 64)),
                },
                pb::DocumentFile { data: Bytes::new() },
            ];
        }
        assert_eq!(
            violations(&request),
            vec![
                (
                    "document.new_capture.files[0].data".to_owned(),
                    Rule::ImageResolutionTooLow
                ),
                (
                    "document.new_capture.files[1].data".to_owned(),
                    Rule::ImageMissing
                ),
            ]
        );
    }

    #[test]
    fn a_subject_with_every_field_wrong_reports_them_all() {
        let mut request = valid();
        request.subject = Some(pb::Subject {
            dui_type: pb::DuiType::BrCpf as i32,
            code: "52998224724".into(),
            name: "<b>".into(),
            gender: 7,
            birth_date: "2001-02-29".into(),
            email: "nope".into(),
            phone: "+55 11 99999-8888".into(),
        });
        request.document.as_mut().unwrap().purpose = 0;
        request.document.as_mut().unwrap().auth_process_id.clear();
        let rules: Vec<Rule> = violations(&request).into_iter().map(|(_, r)| r).collect();
        assert_eq!(
            rules,
            vec![
                Rule::SubjectCodeInvalid,
                Rule::SubjectNameInvalid,
                Rule::SubjectGenderInvalid,
                Rule::SubjectBirthDateInvalid,
                Rule::SubjectEmailInvalid,
                Rule::SubjectPhoneInvalid,
                Rule::PurposeInvalid,
                Rule::AuthProcessIdInvalid,
            ]
        );
    }
}
