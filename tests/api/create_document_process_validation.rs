//! CreateDocumentProcess requests the facade refuses itself: the reason and
//! upstream code the vendor would give, the gRPC field path, every violation
//! at once, and no upstream call. Then the image size limits, end to end,
//! and the server's own request-size limit.

use prost::Message as _;
use tonic::Code;
use unico_facade::pb::identity_v1::{
    CreateDocumentProcessRequest, DocumentFile, DuiType, NewCapture, ReuseDocument,
    document_submission::Capture,
};

use crate::helpers::{
    AUTH_FACE_MATCH, CPF, Expected, assert_status, field_violations, jpeg, new_capture, noisy, png,
    pt_br_message, sent_files, small_png, spawn_app, spawn_app_with, valid_capture, webp,
};

/// The default largest image: the vendor's "800 KB" read as 800 × 1024.
const MAX_IMAGE: usize = 819_200;

/// A valid request changed by `edit`.
fn valid_but(edit: impl FnOnce(&mut CreateDocumentProcessRequest)) -> CreateDocumentProcessRequest {
    let mut request = valid_capture();
    edit(&mut request);
    request
}

fn with_code(dui_type: DuiType, code: &str) -> CreateDocumentProcessRequest {
    valid_but(|r| {
        let subject = r.subject.as_mut().unwrap();
        subject.dui_type = dui_type as i32;
        subject.code = code.into();
    })
}

fn with_files(files: Vec<Vec<u8>>) -> CreateDocumentProcessRequest {
    new_capture(AUTH_FACE_MATCH, files)
}

/// The vendor's documented Portuguese messages, by code.
fn portuguese(code: &str) -> Option<&'static str> {
    Some(match code {
        "20004" => "O parâmetro subject não foi informado.",
        "20005" => "O parâmetro subject.code não foi informado.",
        "20507" => "O parâmetro subject.code é inválido.",
        "20009" => "O parâmetro imagebase64 não foi informado.",
        "20506" => "O base64 informado é muito grande. O tamanho máximo suportado é até 800kb.",
        "20505" => "O base64 informado não é suportado. Os formatos aceitos são png, jpeg e webp.",
        "20900" => "O base64 informado não é válido.",
        "20807" => {
            "A imagem precisa estar no padrão HD ou possuir uma resolução superior a 640 x 480."
        }
        _ => return None,
    })
}

#[tokio::test]
async fn each_local_rule_answers_like_the_upstream_without_calling_it() {
    let app = spawn_app().await;
    let subject = |edit: fn(&mut unico_facade::pb::identity_v1::Subject)| {
        valid_but(|r| edit(r.subject.as_mut().unwrap()))
    };
    let document = |edit: fn(&mut unico_facade::pb::identity_v1::DocumentSubmission)| {
        valid_but(|r| edit(r.document.as_mut().unwrap()))
    };
    let cases: Vec<(&str, CreateDocumentProcessRequest, &str, &str, &str)> = vec![
        // (case, request, field, reason, upstream code)
        (
            "no subject",
            valid_but(|r| r.subject = None),
            "subject",
            "SUBJECT_REQUIRED",
            "20004",
        ),
        (
            "no identifier type",
            subject(|s| s.dui_type = 0),
            "subject.dui_type",
            "SUBJECT_DUI_TYPE_INVALID",
            "20507",
        ),
        (
            "an identifier type the contract does not know",
            subject(|s| s.dui_type = 99),
            "subject.dui_type",
            "SUBJECT_DUI_TYPE_INVALID",
            "20507",
        ),
        (
            "no code",
            subject(|s| s.code.clear()),
            "subject.code",
            "SUBJECT_CODE_REQUIRED",
            "20005",
        ),
        (
            "a blank code",
            subject(|s| s.code = "   ".into()),
            "subject.code",
            "SUBJECT_CODE_REQUIRED",
            "20005",
        ),
        (
            "a CPF with wrong check digits",
            with_code(DuiType::BrCpf, "52998224724"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "a CPF of one repeated digit",
            with_code(DuiType::BrCpf, "11111111111"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "a CPF of 10 digits",
            with_code(DuiType::BrCpf, "5299822472"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "a CPF with dots and a dash",
            with_code(DuiType::BrCpf, "529.982.247-25"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "an SSN of 8 digits",
            with_code(DuiType::UsSsn, "12345678"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "an SSN with dashes",
            with_code(DuiType::UsSsn, "123-45-6789"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "a NIN of 10 digits",
            with_code(DuiType::NgNin, "1234567890"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "a DNI of 9 digits",
            with_code(DuiType::ArDni, "123456789"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "a NIK of 15 digits",
            with_code(DuiType::IdNik, "123456789012345"),
            "subject.code",
            "SUBJECT_CODE_INVALID",
            "20507",
        ),
        (
            "a name with a control character",
            subject(|s| s.name = "R2\u{0}D2".into()),
            "subject.name",
            "SUBJECT_NAME_INVALID",
            "20509",
        ),
        (
            "a name with markup",
            subject(|s| s.name = "<script>".into()),
            "subject.name",
            "SUBJECT_NAME_INVALID",
            "20509",
        ),
        (
            "a gender outside the enum",
            subject(|s| s.gender = 7),
            "subject.gender",
            "SUBJECT_GENDER_INVALID",
            "20508",
        ),
        (
            "February 29 of a non-leap year",
            subject(|s| s.birth_date = "2001-02-29".into()),
            "subject.birth_date",
            "SUBJECT_BIRTH_DATE_INVALID",
            "20019",
        ),
        (
            "month 13",
            subject(|s| s.birth_date = "2000-13-01".into()),
            "subject.birth_date",
            "SUBJECT_BIRTH_DATE_INVALID",
            "20019",
        ),
        (
            "a date written day first",
            subject(|s| s.birth_date = "20-05-2000".into()),
            "subject.birth_date",
            "SUBJECT_BIRTH_DATE_INVALID",
            "20019",
        ),
        (
            "an e-mail without @",
            subject(|s| s.email = "luke.example.com".into()),
            "subject.email",
            "SUBJECT_EMAIL_INVALID",
            "20008",
        ),
        (
            "an e-mail with a space",
            subject(|s| s.email = "luke sky@example.com".into()),
            "subject.email",
            "SUBJECT_EMAIL_INVALID",
            "20008",
        ),
        (
            "a formatted phone",
            subject(|s| s.phone = "+55 11 99999-8888".into()),
            "subject.phone",
            "SUBJECT_PHONE_INVALID",
            "20021",
        ),
        (
            "no document",
            valid_but(|r| r.document = None),
            "document",
            "DOCUMENT_REQUIRED",
            "99988",
        ),
        (
            "an unspecified purpose",
            document(|d| d.purpose = 0),
            "document.purpose",
            "DOCUMENT_PURPOSE_INVALID",
            "20067",
        ),
        (
            "a purpose outside the enum",
            document(|d| d.purpose = 42),
            "document.purpose",
            "DOCUMENT_PURPOSE_INVALID",
            "20067",
        ),
        (
            "an empty auth process id",
            document(|d| d.auth_process_id.clear()),
            "document.auth_process_id",
            "AUTH_PROCESS_ID_INVALID",
            "20066",
        ),
        (
            "a blank auth process id",
            document(|d| d.auth_process_id = " \t ".into()),
            "document.auth_process_id",
            "AUTH_PROCESS_ID_INVALID",
            "20066",
        ),
        (
            "neither files nor document id",
            document(|d| d.capture = None),
            "document.new_capture.files",
            "DOCUMENT_CAPTURE_MISSING",
            "20068",
        ),
        (
            "a new capture without files",
            with_files(vec![]),
            "document.new_capture.files",
            "DOCUMENT_CAPTURE_MISSING",
            "20068",
        ),
        (
            "a reuse with an empty document id",
            document(|d| {
                d.capture = Some(Capture::Reuse(ReuseDocument {
                    document_id: String::new(),
                }));
            }),
            "document.reuse.document_id",
            "DOCUMENT_CAPTURE_MISSING",
            "20068",
        ),
        (
            "three files",
            with_files(vec![small_png(), small_png(), small_png()]),
            "document.new_capture.files",
            "TOO_MANY_FILES",
            "99989",
        ),
        (
            "an empty image",
            with_files(vec![vec![]]),
            "document.new_capture.files[0].data",
            "IMAGE_MISSING",
            "20009",
        ),
        (
            "an empty second image",
            with_files(vec![small_png(), vec![]]),
            "document.new_capture.files[1].data",
            "IMAGE_MISSING",
            "20009",
        ),
        (
            "a GIF",
            with_files(vec![b"GIF89a\x80\x02\xe0\x01\x00\x00\x00".to_vec()]),
            "document.new_capture.files[0].data",
            "IMAGE_FORMAT_UNSUPPORTED",
            "20505",
        ),
        (
            "a PNG signature and nothing else",
            with_files(vec![b"\x89PNG\r\n\x1a\n".to_vec()]),
            "document.new_capture.files[0].data",
            "IMAGE_INVALID",
            "20900",
        ),
        (
            "a PNG of 639 x 480",
            with_files(vec![png(639, 480, 2048)]),
            "document.new_capture.files[0].data",
            "IMAGE_RESOLUTION_TOO_LOW",
            "20807",
        ),
        (
            "a PNG of 640 x 479",
            with_files(vec![png(640, 479, 2048)]),
            "document.new_capture.files[0].data",
            "IMAGE_RESOLUTION_TOO_LOW",
            "20807",
        ),
        (
            "a portrait JPEG of 479 x 640 as the back",
            with_files(vec![small_png(), jpeg(479, 640, 2048)]),
            "document.new_capture.files[1].data",
            "IMAGE_RESOLUTION_TOO_LOW",
            "20807",
        ),
        (
            "a WebP of 640 x 400",
            with_files(vec![webp(640, 400, 2048)]),
            "document.new_capture.files[0].data",
            "IMAGE_RESOLUTION_TOO_LOW",
            "20807",
        ),
    ];
    for (case, request, field, reason, upstream_code) in cases {
        let status = app.create_document(request).await.expect_err(case);

        let details = assert_status(
            &status,
            Expected {
                code: Code::InvalidArgument,
                reason,
                upstream_http_status: None,
                upstream_code: Some(upstream_code),
            },
        );
        assert_eq!(
            field_violations(&details),
            vec![(field.to_owned(), reason.to_owned())],
            "{case}"
        );
        assert_eq!(details.error_info().unwrap().metadata["origin"], "facade");
        let violation = &details.bad_request().unwrap().field_violations[0];
        assert!(!violation.description.is_empty(), "{case}");
        // The vendor's message is given only where it speaks of the same
        // field: its 20507 text is about subject.code, not the type.
        let expected_pt = if reason == "SUBJECT_DUI_TYPE_INVALID" {
            None
        } else {
            portuguese(upstream_code)
        };
        assert_eq!(
            pt_br_message(&details).as_deref(),
            expected_pt,
            "{case}: LocalizedMessage"
        );
        for personal in ["529", "R2-D2", "luke", "2001-02-29"] {
            assert!(
                !status.message().contains(personal) && !violation.description.contains(personal),
                "{case}: personal data in {status:?}"
            );
        }
    }
    assert!(
        app.requests().is_empty(),
        "no request may reach the upstream"
    );
}

#[tokio::test]
async fn a_formatted_cpf_is_told_to_remove_the_symbols() {
    let app = spawn_app().await;

    let status = app
        .create_document(with_code(DuiType::BrCpf, "529.982.247-25"))
        .await
        .unwrap_err();

    let details = tonic_types::StatusExt::get_error_details(&status);
    let violation = &details.bad_request().expect("BadRequest").field_violations[0];
    assert_eq!(violation.field, "subject.code");
    assert!(
        violation.description.contains("formatting symbols")
            && violation.description.contains("remove"),
        "{}",
        violation.description
    );
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn every_identifier_type_accepts_its_documented_shape() {
    let app = spawn_app().await;
    let cases = [
        (DuiType::BrCpf, CPF, "DUI_TYPE_BR_CPF"),
        (DuiType::MxCurp, "GODE561231HDFABC09", "DUI_TYPE_MX_CURP"),
        (DuiType::MxCurp, "GODE561231XDFABC09", "DUI_TYPE_MX_CURP"),
        (DuiType::UsSsn, "123456789", "DUI_TYPE_US_SSN"),
        (DuiType::NgNin, "12345678901", "DUI_TYPE_NG_NIN"),
        (DuiType::ArDni, "123456", "DUI_TYPE_AR_DNI"),
        (DuiType::ArDni, "1234567", "DUI_TYPE_AR_DNI"),
        (DuiType::ArDni, "12345678", "DUI_TYPE_AR_DNI"),
        (DuiType::IdNik, "1234567890123456", "DUI_TYPE_ID_NIK"),
    ];
    for (dui_type, code, sent_type) in cases {
        app.create_document(with_code(dui_type, code))
            .await
            .unwrap_or_else(|status| panic!("{dui_type:?} {code}: {status:?}"));

        let body = app.requests().pop().unwrap().json().unwrap();
        assert_eq!(body["subject"]["duiType"], sent_type);
        assert_eq!(body["subject"]["code"], code);
    }
}

#[tokio::test]
async fn valid_optional_fields_at_their_edges_are_accepted() {
    let app = spawn_app().await;
    let today = {
        let d = time::OffsetDateTime::now_utc().date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let cases = [
        (
            "Zoë O’Neill Jr.",
            "2000-02-29",
            "a@example.com",
            "+5511999998888",
        ),
        (
            "李小龍",
            today.as_str(),
            "first.last+tag@sub.example.com.br",
            "5511987654321",
        ),
    ];
    for (name, birth_date, email, phone) in cases {
        let request = valid_but(|r| {
            let s = r.subject.as_mut().unwrap();
            s.name = name.into();
            s.birth_date = birth_date.into();
            s.email = email.into();
            s.phone = phone.into();
        });

        app.create_document(request)
            .await
            .unwrap_or_else(|status| panic!("{name}: {status:?}"));

        let body = app.requests().pop().unwrap().json().unwrap();
        assert_eq!(body["subject"]["name"], name);
        assert_eq!(body["subject"]["birthDate"], birth_date);
        assert_eq!(body["subject"]["email"], email);
        // E.164 with or without `+`: the page's digits are sent.
        assert_eq!(body["subject"]["phone"], phone.trim_start_matches('+'));
    }
}

#[tokio::test]
async fn a_name_with_a_combining_accent_is_accepted() {
    let app = spawn_app().await;
    let name = "Jose\u{301} Conceic\u{327}a\u{303}o";

    app.create_document(valid_but(|r| {
        r.subject.as_mut().unwrap().name = name.into()
    }))
    .await
    .expect("decomposed accents are letters too");

    let body = app.requests().pop().unwrap().json().unwrap();
    assert_eq!(body["subject"]["name"], name);
}

#[tokio::test]
async fn several_violations_come_back_together_in_field_order() {
    let app = spawn_app().await;
    let request = valid_but(|r| {
        let subject = r.subject.as_mut().unwrap();
        subject.code = "52998224724".into();
        subject.email = "nope".into();
        let document = r.document.as_mut().unwrap();
        document.purpose = 0;
        document.capture = Some(Capture::NewCapture(NewCapture {
            files: vec![
                DocumentFile {
                    data: small_png().into(),
                },
                DocumentFile {
                    data: b"GIF89a....".to_vec().into(),
                },
            ],
        }));
    });

    let status = app.create_document(request).await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "SUBJECT_CODE_INVALID",
            upstream_http_status: None,
            upstream_code: Some("20507"),
        },
    );
    assert_eq!(
        field_violations(&details),
        [
            ("subject.code", "SUBJECT_CODE_INVALID"),
            ("subject.email", "SUBJECT_EMAIL_INVALID"),
            ("document.purpose", "DOCUMENT_PURPOSE_INVALID"),
            (
                "document.new_capture.files[1].data",
                "IMAGE_FORMAT_UNSUPPORTED"
            ),
        ]
        .map(|(f, r)| (f.to_owned(), r.to_owned()))
    );
    let localized: Vec<Option<&str>> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| {
            v.localized_message.as_ref().map(|m| {
                assert_eq!(m.locale, "pt-BR");
                m.message.as_str()
            })
        })
        .collect();
    assert_eq!(
        localized,
        [portuguese("20507"), None, None, portuguese("20505")],
        "each violation carries its own vendor message, when Portuguese"
    );
    assert_eq!(
        pt_br_message(&details).as_deref(),
        portuguese("20507"),
        "the first violation speaks for the request"
    );
    assert!(
        status.message().contains("4 fields"),
        "{}",
        status.message()
    );
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn images_at_the_size_limit_are_accepted_and_one_byte_more_is_refused() {
    let app = spawn_app().await;
    let cases = [
        (
            "PNG",
            png(1280, 960, MAX_IMAGE),
            png(1280, 960, MAX_IMAGE + 1),
        ),
        (
            "JPEG",
            jpeg(1280, 960, MAX_IMAGE),
            jpeg(1280, 960, MAX_IMAGE + 1),
        ),
    ];
    for (i, (format, at_limit, over_limit)) in cases.into_iter().enumerate() {
        let at_limit = noisy(at_limit, i as u64);

        app.create_document(with_files(vec![at_limit.clone()]))
            .await
            .unwrap_or_else(|status| panic!("{format} of {MAX_IMAGE} bytes: {status:?}"));
        let sent = app.requests().pop().expect("sent upstream");
        assert_eq!(sent_files(&sent), [at_limit], "{format}");

        let status = app
            .create_document(with_files(vec![over_limit]))
            .await
            .unwrap_err();
        let details = assert_status(
            &status,
            Expected {
                code: Code::InvalidArgument,
                reason: "IMAGE_TOO_LARGE",
                upstream_http_status: None,
                upstream_code: Some("20506"),
            },
        );
        assert_eq!(
            field_violations(&details),
            vec![(
                "document.new_capture.files[0].data".to_owned(),
                "IMAGE_TOO_LARGE".to_owned()
            )],
            "{format}"
        );
        assert_eq!(app.requests().len(), i + 1, "{format}: refused locally");
    }
}

#[tokio::test]
async fn a_request_with_two_maximum_images_succeeds_end_to_end() {
    let app = spawn_app().await;
    let front = noisy(png(1920, 1080, MAX_IMAGE), 11);
    let back = noisy(jpeg(1920, 1080, MAX_IMAGE), 12);
    let mut request = with_files(vec![front.clone(), back.clone()]);
    request.subject.as_mut().unwrap().name = "Luke Skywalker".into();

    let response = app.create_document(request).await.expect("call succeeds");

    assert_eq!(response.document.unwrap().file_urls.len(), 2);
    let requests = app.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(sent_files(&requests[0]), [front, back]);
    // Streamed in chunks, yet announced up front with its exact length.
    let length = requests[0].body.len();
    assert!(length > 4 * MAX_IMAGE * 2 / 3, "{length}");
    assert_eq!(
        requests[0].header("content-length"),
        Some(length.to_string().as_str())
    );
    assert_eq!(requests[0].header("transfer-encoding"), None);
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_resource_exhausted_not_a_dropped_connection() {
    let app = spawn_app().await;
    let limit = 2 * MAX_IMAGE + 64 * 1024;
    let request = with_files(vec![png(1280, 960, 1 << 20), jpeg(1280, 960, 1 << 20)]);
    assert!(request.encoded_len() > limit);

    let status = app.create_document(request).await.unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::ResourceExhausted,
            reason: "REQUEST_TOO_LARGE",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    let metadata = &details.error_info().unwrap().metadata;
    assert_eq!(metadata["limitBytes"], limit.to_string());
    assert_eq!(metadata["origin"], "facade");
    assert!(app.requests().is_empty());
    app.create_document(valid_capture())
        .await
        .expect("the connection is still usable");
    let mut fresh =
        unico_facade::pb::identity_v1::document_service_client::DocumentServiceClient::connect(
            format!("http://{}", app.addr),
        )
        .await
        .expect("the server still accepts connections");
    fresh
        .create_document_process(crate::helpers::authorized_with_key(valid_capture()))
        .await
        .expect("and serves them");
    assert_eq!(app.requests().len(), 2);
}

#[tokio::test]
async fn a_smaller_configured_image_limit_is_enforced() {
    let app = spawn_app_with(|s| s.image_limits.max_bytes = 1000).await;

    app.create_document(with_files(vec![png(640, 480, 1000)]))
        .await
        .expect("1000 bytes is the limit");
    let status = app
        .create_document(with_files(vec![png(640, 480, 1001)]))
        .await
        .unwrap_err();

    let details = assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "IMAGE_TOO_LARGE",
            upstream_http_status: None,
            upstream_code: Some("20506"),
        },
    );
    let violation = &details.bad_request().unwrap().field_violations[0];
    assert!(
        violation.description.contains("1000 bytes"),
        "{}",
        violation.description
    );
    assert_eq!(app.requests().len(), 1);
}

#[tokio::test]
async fn a_larger_configured_minimum_resolution_is_enforced_in_either_orientation() {
    let app = spawn_app_with(|s| {
        s.image_limits.min_long_side = 1280;
        s.image_limits.min_short_side = 720;
    })
    .await;

    app.create_document(with_files(vec![png(720, 1280, 2048)]))
        .await
        .expect("portrait 720 x 1280 reaches the minimum");
    for (width, height) in [(1279, 720), (1280, 719), (719, 1280)] {
        let status = app
            .create_document(with_files(vec![png(width, height, 2048)]))
            .await
            .unwrap_err();

        let details = assert_status(
            &status,
            Expected {
                code: Code::InvalidArgument,
                reason: "IMAGE_RESOLUTION_TOO_LOW",
                upstream_http_status: None,
                upstream_code: Some("20807"),
            },
        );
        let violation = &details.bad_request().unwrap().field_violations[0];
        assert!(
            violation.description.contains("1280 x 720"),
            "{}",
            violation.description
        );
    }
    assert_eq!(app.requests().len(), 1);
}
