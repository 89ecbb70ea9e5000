"""grpcio-health-checking against the facade's grpc.health.v1.Health: the process, each
service, and the per-upstream entries that follow each family's circuit breaker."""

import signal
import time

import grpc
import pytest
from google.rpc import error_details_pb2 as ed
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import start, wait_until_serving
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


@pytest.fixture(scope="module")
def breaker_server(tmp_path_factory):
    """A facade of its own whose circuits open after 3 failures and cool down for 300 ms, so
    that opening one leaves the session's server (and the other tests) alone."""
    logs = tmp_path_factory.mktemp("breaker")
    args = ["--circuit-failures", "3", "--circuit-cooldown", "300ms"]
    for attempt in range(3):  # a free port can be taken between the probe and the bind
        server = start(logs / f"breaker-{attempt}.log", args)
        try:
            wait_until_serving(server)
            break
        except RuntimeError as error:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()
            if "cannot listen" not in str(error) or attempt == 2:
                pytest.fail(f"the facade did not start: {error}", pytrace=False)
    yield server
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0, server.log_tail()


def test_upstream_entries_follow_the_circuit(pb, breaker_server):
    with grpc.insecure_channel(breaker_server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        process_stub = pb.process_grpc.ProcessServiceStub(channel)
        set_document(pb, process_stub)  # a success: the family is up
        assert check(health, IDCLOUD) == SERVING
        assert check(health, ID_API) == SERVING
        breaker_server.script_fault(endpoint="set-process-document", status=503, times=3)
        for _ in range(3):
            assert call_error(process_stub.SetProcessDocument, pb.process.SetProcessDocumentRequest(
                process_id=awaiting_id(), dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
            )).info.reason == "UPSTREAM_UNAVAILABLE"
        # The circuit opened: the entry says so, and the next call is refused with nothing sent.
        assert check(health, IDCLOUD) == NOT_SERVING
        assert check(health, ID_API) == SERVING
        sent = len(breaker_server.recorded_requests())
        refused = call_error(process_stub.SetProcessDocument, pb.process.SetProcessDocumentRequest(
            process_id=awaiting_id(), dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
        ))
        assert refused.code == grpc.StatusCode.UNAVAILABLE
        assert refused.info.reason == "UPSTREAM_CIRCUIT_OPEN"
        assert refused.info.metadata["upstream"] == IDCLOUD
        delay = refused.one(ed.RetryInfo).retry_delay
        wait = delay.seconds + delay.nanos / 1e9
        assert 0 < wait <= 0.3
        assert len(breaker_server.recorded_requests()) == sent
        # A vendor outage never takes the process or its services out of rotation.
        assert [check(health, s) for s in ("", PROCESS, DOCUMENT)] == [SERVING] * 3
        # After the cool-down (the RetryInfo delay), the probe's success closes the circuit.
        time.sleep(wait + 0.02)
        set_document(pb, process_stub)
        assert check(health, IDCLOUD) == SERVING
