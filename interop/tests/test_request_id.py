"""Request ids from Python: the caller's `x-request-id` (or a fresh UUID) comes back in the
response metadata, and on an error also as the RequestInfo detail."""

import re
import uuid

import grpc
import pytest

from support import AUTH, CPF, DOC_AUTH, awaiting_id, call_error, capture, decode

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def metadata_id(call) -> str | None:
    for key, value in list(call.initial_metadata() or ()) + list(call.trailing_metadata() or ()):
        if key == "x-request-id":
            return value
    return None


def set_document(pb, process_id):
    return pb.process.SetProcessDocumentRequest(
        process_id=process_id, dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
    )


def test_a_success_echoes_the_callers_request_id(pb, process_stub):
    sent = f"interop-{uuid.uuid4()}"
    _, call = process_stub.SetProcessDocument.with_call(
        set_document(pb, awaiting_id()), metadata=AUTH + (("x-request-id", sent),), timeout=15
    )
    assert metadata_id(call) == sent


def test_an_error_carries_request_info(pb, process_stub):
    sent = f"interop-{uuid.uuid4()}"
    with pytest.raises(grpc.RpcError) as raised:
        process_stub.SetProcessDocument(
            set_document(pb, "proc-expired"), metadata=AUTH + (("x-request-id", sent),), timeout=15
        )
    rich = decode(raised.value)
    assert rich.info.reason == "PROCESS_EXPIRED"
    assert rich.request_info is not None, rich
    assert rich.request_info.request_id == sent
    assert metadata_id(raised.value) == sent


@pytest.mark.parametrize("sent", [None, "luke@example.com", "x" * 200])
def test_a_missing_or_unusable_request_id_is_replaced_by_a_uuid(pb, document_stub, sent):
    request = capture(pb)
    request.subject.code = "123"
    metadata = DOC_AUTH + ((("x-request-id", sent),) if sent else ())
    with pytest.raises(grpc.RpcError) as raised:
        document_stub.CreateDocumentProcess(request, metadata=metadata, timeout=15)
    rich = decode(raised.value)
    assert UUID.match(rich.request_info.request_id), rich.request_info
    assert metadata_id(raised.value) == rich.request_info.request_id


def test_credential_errors_carry_it_too(pb, process_stub):
    rich = call_error(process_stub.SetProcessDocument, set_document(pb, awaiting_id()),
                      metadata=(("x-request-id", "interop-no-credentials"),))
    assert rich.info.reason == "ACCESS_TOKEN_MISSING"
    assert rich.request_info.request_id == "interop-no-credentials"
