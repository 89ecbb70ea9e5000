"""SetProcessDocument's errors from Python: each error class, its `grpc-status-details-bin`
decoded with grpcio-status, and the detail types, reason, metadata and fields asserted.

Fixture ids and scripted faults drive the embedded emulator (README, "The emulator").
"""

import email.utils
import time
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2 as ed

from support import AUTH, CPF, TOKEN, awaiting_id, call_error, violations

ERROR_INFO = ed.ErrorInfo.DESCRIPTOR.full_name
BAD_REQUEST = ed.BadRequest.DESCRIPTOR.full_name
PRECONDITION = ed.PreconditionFailure.DESCRIPTOR.full_name
RESOURCE_INFO = ed.ResourceInfo.DESCRIPTOR.full_name
RETRY_INFO = ed.RetryInfo.DESCRIPTOR.full_name


def request(pb, process_id=None, dui_type=None, dui_value=CPF):
    return pb.process.SetProcessDocumentRequest(
        process_id=awaiting_id() if process_id is None else process_id,
        dui_type=pb.identifiers.DUI_TYPE_BR_CPF if dui_type is None else dui_type,
        dui_value=dui_value,
    )


# ---------------------------------------------------------------- UNAUTHENTICATED


def test_no_authorization_metadata_is_credentials_missing(pb, process_stub, emulator):
    before = len(emulator.recorded_requests())
    # The body is invalid too: credentials are checked first, as the vendor's gateway does.
    rich = call_error(process_stub.SetProcessDocument, request(pb, dui_value="529.982.247-25"), metadata=())
    assert rich.code == grpc.StatusCode.UNAUTHENTICATED
    assert rich.types == {ERROR_INFO}
    assert rich.info.reason == "CREDENTIALS_MISSING"
    assert dict(rich.info.metadata) == {"origin": "facade", "metadataKey": "authorization"}
    assert len(emulator.recorded_requests()) == before, "no upstream call"


@pytest.mark.parametrize(
    "token, reason",
    [("emulator-expired-token", "ACCESS_TOKEN_EXPIRED"), ("not-a-jwt", "ACCESS_TOKEN_INVALID")],
)
def test_a_token_the_vendor_refuses(pb, process_stub, token, reason):
    rich = call_error(
        process_stub.SetProcessDocument, request(pb), metadata=(("authorization", f"Bearer {token}"),)
    )
    assert rich.code == grpc.StatusCode.UNAUTHENTICATED
    assert rich.types == {ERROR_INFO}
    assert rich.info.reason == reason
    assert rich.info.metadata["origin"] == "upstream"
    assert rich.info.metadata["upstreamHttpStatus"] == "401"
    assert token not in rich.message


# ---------------------------------------------------------------- INVALID_ARGUMENT


def test_a_formatted_cpf_is_refused_by_the_facade(pb, process_stub, emulator):
    before = len(emulator.recorded_requests())
    rich = call_error(process_stub.SetProcessDocument, request(pb, dui_value="529.982.247-25"))
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert rich.types == {ERROR_INFO, BAD_REQUEST}
    assert rich.info.reason == "DUI_VALUE_FORMATTED"
    # The page states the rule but no message for it: the code 3 is the facade's reading.
    assert dict(rich.info.metadata) == {"origin": "facade", "upstreamCode": "3", "upstreamCodeAssumed": "true"}
    (violation,) = rich.one(ed.BadRequest).field_violations
    assert (violation.field, violation.reason) == ("dui_value", "DUI_VALUE_FORMATTED")
    assert violation.description
    assert "529.982.247-25" not in rich.message, "personal data never in a status message"
    assert len(emulator.recorded_requests()) == before, "no upstream call"


@pytest.mark.parametrize(
    "fields, reason, field",
    [
        (dict(process_id=".."), "PROCESS_ID_INVALID", "process_id"),
        (dict(process_id=" "), "PROCESS_ID_INVALID", "process_id"),
        (dict(process_id="proc\u0007"), "PROCESS_ID_INVALID", "process_id"),
        (dict(process_id="p" * 257), "PROCESS_ID_TOO_LONG", "process_id"),
        (dict(dui_type=0), "DUI_TYPE_REQUIRED", "dui_type"),
        (dict(dui_type=99), "DUI_TYPE_INVALID", "dui_type"),
        (dict(dui_type=4), "DUI_TYPE_NOT_ACCEPTED", "dui_type"),  # NIN: not on this endpoint
        (dict(dui_value=""), "DUI_VALUE_REQUIRED", "dui_value"),
        (dict(dui_value="1" * 321), "DUI_VALUE_TOO_LONG", "dui_value"),
    ],
)
def test_local_validation(pb, process_stub, fields, reason, field):
    rich = call_error(process_stub.SetProcessDocument, request(pb, **fields))
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert rich.info.reason == reason
    assert rich.info.metadata["origin"] == "facade"
    assert violations(rich) == [(field, reason)]


def test_every_violation_is_reported_and_error_info_names_the_first(pb, process_stub):
    rich = call_error(process_stub.SetProcessDocument, pb.process.SetProcessDocumentRequest())
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(rich) == [
        ("process_id", "PROCESS_ID_INVALID"),
        ("dui_type", "DUI_TYPE_REQUIRED"),
        ("dui_value", "DUI_VALUE_REQUIRED"),
    ]
    assert rich.info.reason == "PROCESS_ID_INVALID"


def test_a_process_id_the_vendor_refuses(pb, process_stub, emulator):
    # The vendor's own refusal (code 3 with its message), for an id the facade let through.
    emulator.script_fault(
        endpoint="set-process-document",
        status=400,
        body='{"code":3,"message":"process id is invalid","details":[]}',
    )
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert rich.types == {ERROR_INFO, BAD_REQUEST}
    assert rich.info.reason == "PROCESS_ID_INVALID"
    assert dict(rich.info.metadata) == {
        "origin": "upstream",
        "upstreamCode": "3",
        "upstreamHttpStatus": "400",
    }
    assert violations(rich) == [("process_id", "PROCESS_ID_INVALID")]


# ---------------------------------------------------------------- FAILED_PRECONDITION


@pytest.mark.parametrize(
    "process_id, reason, kind",
    [
        ("proc-expired", "PROCESS_EXPIRED", "PROCESS_STATE"),
        ("proc-document-set", "DOCUMENT_ALREADY_SET", "PROCESS_STATE"),
        ("proc-finished", "PROCESS_ALREADY_FINISHED", "PROCESS_STATE"),
        ("proc-not-awaiting-document", "PROCESS_NOT_AWAITING_DOCUMENT", "PROCESS_STATE"),
        ("proc-flow-requires-document", "FLOW_REQUIRES_DOCUMENT", "PROCESS_FLOW"),
    ],
)
def test_process_states(pb, process_stub, process_id, reason, kind):
    rich = call_error(process_stub.SetProcessDocument, request(pb, process_id=process_id))
    assert rich.code == grpc.StatusCode.FAILED_PRECONDITION
    assert rich.types == {ERROR_INFO, PRECONDITION}
    assert rich.info.reason == reason
    assert dict(rich.info.metadata) == {
        "origin": "upstream",
        "upstreamCode": "9",
        "upstreamHttpStatus": "400",
    }
    (violation,) = rich.one(ed.PreconditionFailure).violations
    assert (violation.type, violation.subject) == (kind, process_id)
    assert violation.description


def test_a_document_once_set_cannot_be_changed(pb, process_stub):
    first = request(pb, process_id="proc-awaiting-document")
    process_stub.SetProcessDocument(first, metadata=AUTH, timeout=15)
    rich = call_error(process_stub.SetProcessDocument, first)
    assert rich.code == grpc.StatusCode.FAILED_PRECONDITION
    assert rich.info.reason == "DOCUMENT_ALREADY_SET"


def test_a_state_code_is_mapped_by_its_code_whatever_the_http_status(pb, process_stub, emulator):
    emulator.script_fault(
        endpoint="set-process-document",
        status=500,
        body='{"code":9,"message":"process expired","details":[]}',
    )
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert rich.code == grpc.StatusCode.FAILED_PRECONDITION
    assert rich.info.reason == "PROCESS_EXPIRED"
    assert rich.info.metadata["upstreamHttpStatus"] == "500"


# ---------------------------------------------------------------- NOT_FOUND


def test_an_unknown_process_is_not_found_with_resource_info(pb, process_stub):
    process_id = f"proc-unknown-{uuid.uuid4()}"
    rich = call_error(process_stub.SetProcessDocument, request(pb, process_id=process_id))
    assert rich.code == grpc.StatusCode.NOT_FOUND
    assert rich.types == {ERROR_INFO, RESOURCE_INFO}
    assert rich.info.reason == "PROCESS_NOT_FOUND"
    assert rich.info.metadata["upstreamCode"] == "5"
    assert rich.info.metadata["upstreamHttpStatus"] == "404"
    resource = rich.one(ed.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("process", process_id)


# ---------------------------------------------------------------- RESOURCE_EXHAUSTED


def retry_delay(rich) -> float:
    delay = rich.one(ed.RetryInfo).retry_delay
    return delay.seconds + delay.nanos / 1e9


def test_a_scripted_429_gives_retry_info_from_retry_after(pb, process_stub, emulator):
    emulator.script_fault(
        endpoint="set-process-document", status=429, headers=[["retry-after", "3"]]
    )
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert rich.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich.types == {ERROR_INFO, RETRY_INFO}
    assert rich.info.reason == "UPSTREAM_RATE_LIMITED"
    assert rich.info.metadata["upstreamHttpStatus"] == "429"
    assert retry_delay(rich) == 3.0


def test_the_rate_limited_fixture_without_retry_after_hints_one_second(pb, process_stub):
    # The IDCloud page: a 429 carries "only the HTTP status".
    rich = call_error(process_stub.SetProcessDocument, request(pb, process_id="proc-rate-limited"))
    assert rich.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert retry_delay(rich) == 1.0


def test_a_429_without_retry_after_hints_one_second(pb, process_stub, emulator):
    emulator.script_fault(endpoint="set-process-document", status=429)
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert rich.info.reason == "UPSTREAM_RATE_LIMITED"
    assert retry_delay(rich) == 1.0


def test_retry_after_as_an_http_date(pb, process_stub, emulator):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    emulator.script_fault(endpoint="set-process-document", status=429, headers=[["retry-after", when]])
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert 25.0 <= retry_delay(rich) <= 31.0, retry_delay(rich)


# ---------------------------------------------------------------- INTERNAL, UNAVAILABLE, UNKNOWN


def test_the_vendor_failing_internally(pb, process_stub):
    rich = call_error(process_stub.SetProcessDocument, request(pb, process_id="proc-internal-error"))
    assert rich.code == grpc.StatusCode.INTERNAL
    assert rich.types == {ERROR_INFO}
    assert rich.info.reason == "UPSTREAM_INTERNAL_ERROR"
    assert rich.info.metadata["upstreamCode"] == "99999"
    assert "Internal failure" not in rich.message, "never the vendor's body"


@pytest.mark.parametrize("retry_after, delay", [(None, None), ("7", 7.0)])
def test_a_load_balancer_503(pb, process_stub, emulator, retry_after, delay):
    headers = [["content-type", "text/html"]] + ([["retry-after", retry_after]] if retry_after else [])
    emulator.script_fault(
        endpoint="set-process-document", status=503, body="<html>down</html>", headers=headers
    )
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert rich.code == grpc.StatusCode.UNAVAILABLE
    assert rich.info.reason == "UPSTREAM_UNAVAILABLE"
    assert rich.info.metadata["upstreamHttpStatus"] == "503"
    if delay is None:
        assert rich.types == {ERROR_INFO}
    else:
        assert rich.types == {ERROR_INFO, RETRY_INFO}
        assert retry_delay(rich) == delay


def test_a_connection_lost_mid_answer_has_no_retry_hint(pb, process_stub, emulator):
    emulator.script_fault(endpoint="set-process-document", drop_connection=True)
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert rich.code == grpc.StatusCode.UNAVAILABLE
    assert rich.types == {ERROR_INFO}
    assert rich.info.reason == "UPSTREAM_CONNECTION_LOST"
    assert rich.info.metadata["origin"] == "upstream"


def test_a_success_that_is_not_json(pb, process_stub, emulator):
    emulator.script_fault(endpoint="set-process-document", status=200, body="<html>ok</html>")
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert rich.code == grpc.StatusCode.INTERNAL
    assert rich.info.reason == "UPSTREAM_RESPONSE_UNPARSEABLE"
    assert dict(rich.info.metadata) == {"origin": "upstream", "upstreamHttpStatus": "200"}


def test_an_answer_no_row_maps_is_unknown_with_both_values(pb, process_stub, emulator):
    emulator.script_fault(
        endpoint="set-process-document", status=418, body='{"code":12345,"message":"teapot"}'
    )
    rich = call_error(process_stub.SetProcessDocument, request(pb))
    assert rich.code == grpc.StatusCode.UNKNOWN
    assert rich.types == {ERROR_INFO}
    assert rich.info.reason == "UPSTREAM_UNEXPECTED_ANSWER"
    assert rich.info.metadata["upstreamHttpStatus"] == "418"
    assert rich.info.metadata["upstreamCode"] == "12345"


def test_the_token_is_forwarded_upstream(pb, process_stub, emulator):
    process_id = awaiting_id()
    process_stub.SetProcessDocument(request(pb, process_id=process_id), metadata=AUTH, timeout=15)
    (sent,) = [r for r in emulator.recorded_requests() if r.get("process_id") == process_id]
    headers = {name.lower(): value for name, value in sent["headers"]}
    assert headers.get("authorization") == f"Bearer {TOKEN}", sent
