"""Deadlines seen from Python against a stalled upstream (scripted with the fault API).

The facade spends the caller's deadline less a margin (a tenth, at most 50 ms) on the
upstream call, so it answers DEADLINE_EXCEEDED (UPSTREAM_TIMEOUT, with its details) just
before the client would give up on its own.
"""

import time

import grpc
import pytest

from support import AUTH, CPF, awaiting_id, decode

# What "a small margin" over the deadline means here: scheduling on a loaded 2-core box.
MARGIN_S = 0.15


def set_document(pb, process_stub, timeout):
    request = pb.process.SetProcessDocumentRequest(
        process_id=awaiting_id(), dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
    )
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        process_stub.SetProcessDocument(request, metadata=AUTH, timeout=timeout)
    return raised.value, time.monotonic() - started


def test_a_200_ms_deadline_against_a_stalled_upstream(pb, process_stub, emulator):
    emulator.script_fault(endpoint="set-process-document", delay_ms=5000)
    error, elapsed = set_document(pb, process_stub, timeout=0.2)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error
    assert elapsed < 0.2 + MARGIN_S, f"{elapsed:.3f} s"
    # Answered by the facade at its 180 ms budget, before the client's own timer.
    rich = decode(error)
    assert rich.info.reason == "UPSTREAM_TIMEOUT"
    assert rich.info.metadata["origin"] == "upstream"


def test_the_facade_answers_before_a_longer_deadline(pb, process_stub, emulator):
    emulator.script_fault(endpoint="set-process-document", delay_ms=5000)
    error, elapsed = set_document(pb, process_stub, timeout=1.0)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error
    rich = decode(error)  # the facade's own answer (at 950 ms), with its details
    assert rich.info.reason == "UPSTREAM_TIMEOUT"
    assert rich.info.metadata["origin"] == "upstream"
    assert 0.9 <= elapsed < 1.0 + MARGIN_S, f"{elapsed:.3f} s"


def test_the_next_call_is_not_delayed(pb, process_stub, emulator):
    emulator.script_fault(endpoint="set-process-document", delay_ms=5000)
    set_document(pb, process_stub, timeout=0.2)
    request = pb.process.SetProcessDocumentRequest(
        process_id=awaiting_id(), dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
    )
    started = time.monotonic()
    process_stub.SetProcessDocument(request, metadata=AUTH, timeout=5)
    assert time.monotonic() - started < 1.0
