"""CreateDocumentProcess's errors from Python, with `grpc-status-details-bin` decoded by
grpcio-status: local validation (every documented rule, pt-BR LocalizedMessage), the
vendor's codes through the emulator's fixtures, credentials, and the request size limit.
"""

import grpc
import pytest
from google.rpc import error_details_pb2 as ed

from support import AUTH, DOC_AUTH, SEEDED_DOCUMENT, call_error, capture, png, reuse, violations

ERROR_INFO = ed.ErrorInfo.DESCRIPTOR.full_name
BAD_REQUEST = ed.BadRequest.DESCRIPTOR.full_name
PRECONDITION = ed.PreconditionFailure.DESCRIPTOR.full_name
RESOURCE_INFO = ed.ResourceInfo.DESCRIPTOR.full_name
RETRY_INFO = ed.RetryInfo.DESCRIPTOR.full_name
LOCALIZED = ed.LocalizedMessage.DESCRIPTOR.full_name

FILES = "document.new_capture.files"
CODE_INVALID_PT = "O parâmetro subject.code é inválido."


# ---------------------------------------------------------------- UNAUTHENTICATED, PERMISSION_DENIED


def test_no_apikey_metadata_is_credentials_missing(pb, document_stub, emulator):
    before = len(emulator.recorded_requests())
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb), metadata=AUTH)
    assert rich.code == grpc.StatusCode.UNAUTHENTICATED
    assert rich.types == {ERROR_INFO}
    assert rich.info.reason == "CREDENTIALS_MISSING"
    assert dict(rich.info.metadata) == {"origin": "facade", "metadataKey": "apikey"}
    assert len(emulator.recorded_requests()) == before, "no upstream call"


def test_no_authorization_metadata_is_credentials_missing(pb, document_stub):
    rich = call_error(
        document_stub.CreateDocumentProcess, capture(pb), metadata=(("apikey", "emulator-apikey"),)
    )
    assert rich.code == grpc.StatusCode.UNAUTHENTICATED
    assert rich.info.reason == "CREDENTIALS_MISSING"
    assert rich.info.metadata["metadataKey"] == "authorization"


@pytest.mark.parametrize(
    "metadata, code, reason, vendor_code, pt_br",
    [
        (
            (("authorization", "Bearer emulator-token"), ("apikey", "wrong-key")),
            grpc.StatusCode.UNAUTHENTICATED,
            "API_KEY_INVALID",
            "10201",
            "O AppKey informado é inválido.",
        ),
        (
            (("authorization", "Bearer emulator-expired-token"), ("apikey", "emulator-apikey")),
            grpc.StatusCode.UNAUTHENTICATED,
            "ACCESS_TOKEN_EXPIRED",
            "10502",
            "O token informado está expirado.",
        ),
        (
            (("authorization", "Bearer emulator-token"), ("apikey", "emulator-apikey-no-permission")),
            grpc.StatusCode.PERMISSION_DENIED,
            "ACTION_NOT_PERMITTED",
            "30017",
            None,
        ),
    ],
)
def test_credentials_the_vendor_refuses(pb, document_stub, metadata, code, reason, vendor_code, pt_br):
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb), metadata=metadata)
    assert rich.code == code
    assert rich.info.reason == reason
    assert dict(rich.info.metadata) == {
        "origin": "upstream",
        "upstreamCode": vendor_code,
        "upstreamHttpStatus": "403",
    }
    if pt_br is None:
        assert rich.types == {ERROR_INFO}
    else:
        assert rich.types == {ERROR_INFO, LOCALIZED}
        localized = rich.one(ed.LocalizedMessage)
        assert (localized.locale, localized.message) == ("pt-BR", pt_br)


# ---------------------------------------------------------------- INVALID_ARGUMENT, local


def test_an_invalid_cpf_carries_the_vendors_portuguese_message(pb, document_stub, emulator):
    before = len(emulator.recorded_requests())
    request = capture(pb)
    request.subject.code = "52998224724"  # wrong check digit
    rich = call_error(document_stub.CreateDocumentProcess, request, metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert rich.types == {ERROR_INFO, BAD_REQUEST, LOCALIZED}
    assert rich.info.reason == "SUBJECT_CODE_INVALID"
    assert dict(rich.info.metadata) == {"origin": "facade", "upstreamCode": "20507"}
    localized = rich.one(ed.LocalizedMessage)
    assert (localized.locale, localized.message) == ("pt-BR", CODE_INVALID_PT)
    (violation,) = rich.one(ed.BadRequest).field_violations
    assert (violation.field, violation.reason) == ("subject.code", "SUBJECT_CODE_INVALID")
    assert violation.localized_message.locale == "pt-BR"
    assert violation.localized_message.message == CODE_INVALID_PT
    assert "52998224724" not in rich.message, "personal data never in a status message"
    assert len(emulator.recorded_requests()) == before, "no upstream call"


def _big_png() -> bytes:
    # A valid 640 x 480 header, then more bytes than --max-image-bytes (819200).
    return png() + b"\x00" * 819_201


def _mutations(pb):
    """(name, change to a valid new-capture request, reason, field)."""
    d = pb.document

    def subject(**fields):
        return lambda r: [setattr(r.subject, k, v) for k, v in fields.items()]

    def files(*data):
        def change(r):
            del r.document.new_capture.files[:]
            r.document.new_capture.files.extend(d.DocumentFile(data=x) for x in data)

        return change

    return [
        ("no subject", lambda r: r.ClearField("subject"), "SUBJECT_REQUIRED", "subject"),
        ("dui type unset", subject(dui_type=0), "SUBJECT_DUI_TYPE_INVALID", "subject.dui_type"),
        ("dui type unknown", subject(dui_type=42), "SUBJECT_DUI_TYPE_INVALID", "subject.dui_type"),
        ("code empty", subject(code=""), "SUBJECT_CODE_REQUIRED", "subject.code"),
        ("cpf repeated digit", subject(code="11111111111"), "SUBJECT_CODE_INVALID", "subject.code"),
        ("cpf formatted", subject(code="529.982.247-25"), "SUBJECT_CODE_INVALID", "subject.code"),
        ("ssn short", subject(dui_type=3, code="12345"), "SUBJECT_CODE_INVALID", "subject.code"),
        ("name with markup", subject(name="<b>R2</b>"), "SUBJECT_NAME_INVALID", "subject.name"),
        ("gender unknown", subject(gender=9), "SUBJECT_GENDER_INVALID", "subject.gender"),
        ("birth date day first", subject(birth_date="20-05-2000"), "SUBJECT_BIRTH_DATE_INVALID", "subject.birth_date"),
        ("birth date not a date", subject(birth_date="2001-02-30"), "SUBJECT_BIRTH_DATE_INVALID", "subject.birth_date"),
        ("email", subject(email="luke"), "SUBJECT_EMAIL_INVALID", "subject.email"),
        ("phone", subject(phone="011999998888"), "SUBJECT_PHONE_INVALID", "subject.phone"),
        ("no document", lambda r: r.ClearField("document"), "DOCUMENT_REQUIRED", "document"),
        ("purpose unset", lambda r: setattr(r.document, "purpose", 0), "DOCUMENT_PURPOSE_INVALID", "document.purpose"),
        ("auth process id empty", lambda r: setattr(r.document, "auth_process_id", ""), "AUTH_PROCESS_ID_INVALID", "document.auth_process_id"),
        ("no capture", lambda r: r.document.ClearField("new_capture"), "DOCUMENT_CAPTURE_MISSING", FILES),
        ("no files", files(), "DOCUMENT_CAPTURE_MISSING", FILES),
        ("three files", files(png(), png(), png()), "TOO_MANY_FILES", FILES),
        ("empty image", files(b""), "IMAGE_MISSING", f"{FILES}[0].data"),
        ("gif", files(b"GIF89a" + b"\x00" * 64), "IMAGE_FORMAT_UNSUPPORTED", f"{FILES}[0].data"),
        ("truncated png", files(png()[:20]), "IMAGE_INVALID", f"{FILES}[0].data"),
        ("second image too small", files(png(), png(320, 240)), "IMAGE_RESOLUTION_TOO_LOW", f"{FILES}[1].data"),
        ("image too large", files(_big_png()), "IMAGE_TOO_LARGE", f"{FILES}[0].data"),
    ]


def test_local_validation_of_every_documented_rule(pb, document_stub, emulator):
    before = len(emulator.recorded_requests())
    failures = []
    for name, change, reason, field in _mutations(pb):
        request = capture(pb)
        change(request)
        rich = call_error(document_stub.CreateDocumentProcess, request, metadata=DOC_AUTH)
        got = (rich.code, rich.info.reason, rich.info.metadata.get("origin"), violations(rich))
        want = (grpc.StatusCode.INVALID_ARGUMENT, reason, "facade", [(field, reason)])
        if got != want:
            failures.append(f"{name}: got {got}, want {want}")
    assert not failures, "\n".join(failures)
    assert len(emulator.recorded_requests()) == before, "no upstream call"


def test_every_violation_is_reported_together(pb, document_stub):
    request = capture(pb)
    request.subject.code = "123"
    request.subject.email = "nope"
    request.document.purpose = 0
    rich = call_error(document_stub.CreateDocumentProcess, request, metadata=DOC_AUTH)
    assert violations(rich) == [
        ("subject.code", "SUBJECT_CODE_INVALID"),
        ("subject.email", "SUBJECT_EMAIL_INVALID"),
        ("document.purpose", "DOCUMENT_PURPOSE_INVALID"),
    ]
    assert rich.info.reason == "SUBJECT_CODE_INVALID"
    assert rich.info.metadata["upstreamCode"] == "20507"
    # The request-level LocalizedMessage speaks for the first violation.
    assert rich.one(ed.LocalizedMessage).message == CODE_INVALID_PT


# ---------------------------------------------------------------- the vendor's codes


def test_a_vendor_field_code_maps_to_bad_request(pb, document_stub):
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb, "auth-jwt-invalid"), metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert rich.types == {ERROR_INFO, BAD_REQUEST}
    assert rich.info.reason == "SELFIE_JWT_INVALID"
    assert dict(rich.info.metadata) == {
        "origin": "upstream",
        "upstreamCode": "10506",
        "upstreamHttpStatus": "400",
    }
    assert violations(rich) == [("document.auth_process_id", "SELFIE_JWT_INVALID")]


def test_a_vendor_code_with_a_portuguese_message(pb, document_stub, emulator):
    emulator.script_fault(
        endpoint="create-document-process",
        status=400,
        body='{"error":{"code":20507,"message":"O parâmetro subject.code é inválido."}}',
    )
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb), metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert rich.types == {ERROR_INFO, BAD_REQUEST, LOCALIZED}
    assert rich.info.reason == "SUBJECT_CODE_INVALID"
    assert rich.info.metadata["origin"] == "upstream"
    assert rich.one(ed.LocalizedMessage).locale == "pt-BR"
    assert violations(rich) == [("subject.code", "SUBJECT_CODE_INVALID")]


@pytest.mark.parametrize(
    "auth_process_id, reason, vendor_code",
    [("auth-jwt-expired", "SELFIE_JWT_EXPIRED", "10507"), ("auth-jwt-used", "SELFIE_JWT_ALREADY_USED", "10508")],
)
def test_a_selfie_that_must_be_redone(pb, document_stub, auth_process_id, reason, vendor_code):
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb, auth_process_id), metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.FAILED_PRECONDITION
    assert rich.types == {ERROR_INFO, PRECONDITION}
    assert rich.info.reason == reason
    assert rich.info.metadata["upstreamCode"] == vendor_code
    (violation,) = rich.one(ed.PreconditionFailure).violations
    assert violation.type == "SELFIE_JWT"


def test_a_process_that_already_exists(pb, document_stub):
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb, "auth-process-exists"), metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.ALREADY_EXISTS
    assert rich.types == {ERROR_INFO, RESOURCE_INFO}
    assert rich.info.reason == "PROCESS_ALREADY_EXISTS"
    assert dict(rich.info.metadata) == {
        "origin": "upstream",
        "upstreamCode": "20073",
        "upstreamHttpStatus": "409",
    }
    assert rich.one(ed.ResourceInfo).resource_type == "process"


def test_the_rate_limited_fixture(pb, document_stub):
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb, "auth-rate-limited"), metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich.types == {ERROR_INFO, RETRY_INFO}
    assert rich.info.reason == "UPSTREAM_RATE_LIMITED"
    assert rich.one(ed.RetryInfo).retry_delay.seconds == 2


def test_the_vendor_failing_internally(pb, document_stub):
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb, "auth-internal-error"), metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.INTERNAL
    assert rich.info.reason == "UPSTREAM_INTERNAL_ERROR"
    assert rich.info.metadata["upstreamCode"] == "99999"


def test_reusing_another_subjects_document(pb, document_stub):
    # The vendor answers 99989 ("the document is invalid"); on a reuse the only caller input
    # in `document` is the document id, so it is the caller's INVALID_ARGUMENT.
    other_cpf = "11144477735"
    rich = call_error(document_stub.CreateDocumentProcess, reuse(pb, SEEDED_DOCUMENT, other_cpf), metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert rich.types == {ERROR_INFO, BAD_REQUEST}
    assert rich.info.reason == "DOCUMENT_ID_INVALID"
    assert dict(rich.info.metadata) == {
        "origin": "upstream",
        "upstreamCode": "99989",
        "upstreamHttpStatus": "400",
    }
    assert violations(rich) == [("document.reuse.document_id", "DOCUMENT_ID_INVALID")]
    assert other_cpf not in rich.message


def test_the_vendor_rejecting_the_request_the_facade_built(pb, document_stub, emulator):
    # 99989 on a new capture can only mean a bad body from the facade: not the caller's fault.
    emulator.script_fault(
        endpoint="create-document-process",
        status=400,
        body='{"error":{"code":99989,"message":"The document is invalid."}}',
    )
    rich = call_error(document_stub.CreateDocumentProcess, capture(pb), metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.INTERNAL
    assert rich.types == {ERROR_INFO}
    assert rich.info.reason == "UPSTREAM_REJECTED_FACADE_REQUEST"
    assert rich.info.metadata["upstreamCode"] == "99989"


# ---------------------------------------------------------------- RESOURCE_EXHAUSTED, the size limit


def test_a_request_over_the_size_limit(pb, document_stub, emulator):
    before = len(emulator.recorded_requests())
    request = capture(pb, files=[png() + b"\x00" * 900_000, png() + b"\x00" * 900_000])
    assert request.ByteSize() > 2 * 819_200 + 64 * 1024
    rich = call_error(document_stub.CreateDocumentProcess, request, metadata=DOC_AUTH)
    assert rich.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich.types == {ERROR_INFO}
    assert rich.info.reason == "REQUEST_TOO_LARGE"
    assert dict(rich.info.metadata) == {"origin": "facade", "limitBytes": str(2 * 819_200 + 64 * 1024)}
    assert len(emulator.recorded_requests()) == before, "no upstream call"
