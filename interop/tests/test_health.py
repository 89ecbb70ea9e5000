"""grpcio-health-checking against the facade's grpc.health.v1.Health: the process, each
service, and the per-upstream entries that follow real calls' outcomes."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support import AUTH, CPF, DOCUMENT, PROCESS, awaiting_id, call_error

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
IDCLOUD = "unico.upstream.IdCloudApi"
ID_API = "unico.upstream.IdApi"


@pytest.fixture(scope="module")
def health(channel):
    return health_pb2_grpc.HealthStub(channel)


def check(health, service):
    return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


@pytest.mark.parametrize("service", ["", PROCESS, DOCUMENT])
def test_serving(health, service):
    assert check(health, service) == SERVING


def test_an_unknown_service_is_not_found(health):
    with pytest.raises(grpc.RpcError) as raised:
        check(health, "unico.identity.v1.Nope")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_watch_streams_serving_first(health):
    stream = health.Watch(health_pb2.HealthCheckRequest(service=PROCESS), timeout=5)
    try:
        assert next(stream).status == SERVING
    finally:
        stream.cancel()


def set_document(pb, process_stub):
    request = pb.process.SetProcessDocumentRequest(
        process_id=awaiting_id(), dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
    )
    return process_stub.SetProcessDocument(request, metadata=AUTH, timeout=15)


def test_upstream_entries_follow_real_calls(pb, process_stub, health, emulator):
    set_document(pb, process_stub)  # a success: the family is up
    assert check(health, IDCLOUD) == SERVING
    assert check(health, ID_API) in (SERVING, NOT_SERVING)  # exists; its state is the ID API's
    emulator.script_fault(endpoint="set-process-document", status=503, times=3)
    for _ in range(3):
        assert call_error(process_stub.SetProcessDocument, pb.process.SetProcessDocumentRequest(
            process_id=awaiting_id(), dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
        )).info.reason == "UPSTREAM_UNAVAILABLE"
    assert check(health, IDCLOUD) == NOT_SERVING
    # A vendor outage never takes the process or its services out of rotation.
    assert [check(health, s) for s in ("", PROCESS, DOCUMENT)] == [SERVING] * 3
    set_document(pb, process_stub)
    assert check(health, IDCLOUD) == SERVING
