"""`buf curl` (npm @bufbuild/buf) through server reflection v1 only (`--reflect-protocol
grpc-v1`, no fallback to v1alpha): list the services and methods, invoke each RPC, and an
error whose details (printed as type + base64) decode to the facade's google.rpc types.
"""

import base64
import json
import os
from pathlib import Path

import pytest
from google.rpc import error_details_pb2

from support import (
    CPF,
    CREATE_DOCUMENT_PROCESS,
    DOCUMENT,
    PROCESS,
    ROOT,
    SEEDED_DOCUMENT,
    SET_PROCESS_DOCUMENT,
    TOKEN,
    awaiting_id,
    png,
    run,
)

BUF = os.environ.get("INTEROP_BUF", str(ROOT / ".tools" / "node_modules" / ".bin" / "buf"))
FLAGS = ["--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", "grpc-v1"]
AUTH = ["-H", f"authorization: Bearer {TOKEN}"]
DOC_AUTH = AUTH + ["-H", "apikey: emulator-apikey"]


@pytest.fixture(scope="module", autouse=True)
def buf_is_installed():
    assert Path(BUF).is_file(), f"{BUF} is missing: interop/run installs it"


def curl(*args):
    return run([BUF, "curl", *FLAGS, *args])


def test_list_services_through_reflection_v1(server):
    result = curl("--list-services", server.url)
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    # The v1 reflection service lists itself: proof that v1 answered.
    assert {PROCESS, DOCUMENT, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} <= services


def test_list_methods(server):
    result = curl("--list-methods", server.url)
    assert result.returncode == 0, result.stderr
    methods = set(result.stdout.split())
    assert {SET_PROCESS_DOCUMENT, CREATE_DOCUMENT_PROCESS} <= methods, methods


def test_set_process_document(server):
    process_id = awaiting_id()
    body = {"process_id": process_id, "dui_type": "DUI_TYPE_BR_CPF", "dui_value": CPF}
    result = curl(*AUTH, "-d", json.dumps(body), f"{server.url}/{SET_PROCESS_DOCUMENT}")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["process"]["id"] == process_id
    assert answer["process"]["person"]["duiValue"] == CPF


@pytest.mark.parametrize("flow", ["new_capture", "reuse"])
def test_create_document_process(server, flow):
    capture = (
        {"new_capture": {"files": [{"data": base64.b64encode(png()).decode()}]}}
        if flow == "new_capture"
        else {"reuse": {"document_id": SEEDED_DOCUMENT}}
    )
    body = {
        "subject": {"dui_type": "DUI_TYPE_BR_CPF", "code": CPF},
        "document": {"purpose": "PURPOSE_CREDIT_PROCESS", "auth_process_id": "auth-face-match", **capture},
    }
    result = curl(*DOC_AUTH, "-d", json.dumps(body), f"{server.url}/{CREATE_DOCUMENT_PROCESS}")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == "PROCESS_STATUS_FINISHED_WITH_SUCCESS"
    assert answer["document"]["type"] == "DOCUMENT_TYPE_CNH"


def test_an_error_and_its_details(server):
    body = {"process_id": "proc-expired", "dui_type": "DUI_TYPE_BR_CPF", "dui_value": CPF}
    result = curl(*AUTH, "-d", json.dumps(body), f"{server.url}/{SET_PROCESS_DOCUMENT}")
    assert result.returncode != 0
    error = json.loads(result.stderr)
    assert error["code"] == "failed_precondition"
    details = {d["type"]: d["value"] for d in error["details"]}
    assert {"google.rpc.ErrorInfo", "google.rpc.PreconditionFailure"} <= set(details), error
    assert set(details) <= {"google.rpc.ErrorInfo", "google.rpc.PreconditionFailure", "google.rpc.RequestInfo"}
    raw = details["google.rpc.ErrorInfo"].replace("-", "+").replace("_", "/")  # either alphabet
    info = error_details_pb2.ErrorInfo.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    assert info.reason == "PROCESS_EXPIRED"
