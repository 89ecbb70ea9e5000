"""Helpers shared by the interop tests: credentials, images, the facade's rich errors."""

from __future__ import annotations

import struct
import subprocess
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"

# The emulator's fixtures (src/emulator/fixtures.rs).
TOKEN = "emulator-token"
API_KEY = "emulator-apikey"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
DOC_AUTH = AUTH + (("apikey", API_KEY),)
CPF = "52998224725"  # valid check digits; owner of doc-seeded-cnh
SEEDED_DOCUMENT = "doc-seeded-cnh"

DOMAIN = "identity.unico-facade"
PROCESS = "unico.identity.v1.ProcessService"
DOCUMENT = "unico.identity.v1.DocumentService"
SET_PROCESS_DOCUMENT = f"{PROCESS}/SetProcessDocument"
CREATE_DOCUMENT_PROCESS = f"{DOCUMENT}/CreateDocumentProcess"

# Every google.rpc error detail type, so that an unexpected one is named, not skipped.
DETAIL_TYPES = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        error_details_pb2.ErrorInfo,
        error_details_pb2.BadRequest,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.ResourceInfo,
        error_details_pb2.RetryInfo,
        error_details_pb2.LocalizedMessage,
        error_details_pb2.QuotaFailure,
        error_details_pb2.DebugInfo,
        error_details_pb2.RequestInfo,
        error_details_pb2.Help,
    )
}
REQUEST_INFO = error_details_pb2.RequestInfo.DESCRIPTOR.full_name


def awaiting_id() -> str:
    """A fresh process id the emulator creates on sight, awaiting its document."""
    return f"awaiting-{uuid.uuid4()}"


def png(width: int = 640, height: int = 480) -> bytes:
    """A real PNG (8-bit RGB, one grey), built with the standard library as in the README."""
    raw = b"".join(b"\x00" + b"\x80" * width * 3 for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def capture(pb, auth_process_id="auth-face-match", name="Luke Skywalker", files=None):
    """A CreateDocumentProcess request, new-capture flow (one 640 x 480 PNG by default)."""
    return pb.document.CreateDocumentProcessRequest(
        subject=pb.document.Subject(dui_type=pb.identifiers.DUI_TYPE_BR_CPF, code=CPF, name=name),
        document=pb.document.DocumentSubmission(
            purpose=pb.document.PURPOSE_ONBOARDING,
            auth_process_id=auth_process_id,
            new_capture=pb.document.NewCapture(
                files=[pb.document.DocumentFile(data=f) for f in (files or [png()])]
            ),
        ),
    )


def reuse(pb, document_id, code=CPF):
    """A CreateDocumentProcess request, reuse flow."""
    return pb.document.CreateDocumentProcessRequest(
        subject=pb.document.Subject(dui_type=pb.identifiers.DUI_TYPE_BR_CPF, code=code),
        document=pb.document.DocumentSubmission(
            purpose=pb.document.PURPOSE_CREDIT_PROCESS,
            auth_process_id="auth-face-match",
            reuse=pb.document.ReuseDocument(document_id=document_id),
        ),
    )


@dataclass
class RichError:
    """A failed call with its `grpc-status-details-bin` decoded."""

    code: grpc.StatusCode
    message: str
    status: status_pb2.Status
    details: dict[str, list] = field(default_factory=dict)

    @property
    def types(self) -> set[str]:
        """The detail types that describe the failure. RequestInfo, which names the call
        rather than the failure and rides on every error, is checked on its own
        (test_request_id.py)."""
        return set(self.details) - {REQUEST_INFO}

    @property
    def request_info(self):
        found = self.details.get(REQUEST_INFO, [])
        assert len(found) <= 1, self
        return found[0] if found else None

    def one(self, cls):
        found = self.details.get(cls.DESCRIPTOR.full_name, [])
        assert len(found) == 1, f"expected one {cls.DESCRIPTOR.full_name}, got {found} in {self}"
        return found[0]

    @property
    def info(self) -> error_details_pb2.ErrorInfo:
        return self.one(error_details_pb2.ErrorInfo)

    def __str__(self) -> str:
        shown = {name: [str(m).strip() for m in msgs] for name, msgs in self.details.items()}
        return f"{self.code.name} {self.message!r} {shown}"


def decode(error: grpc.RpcError) -> RichError:
    """Decodes the rich status of a failed call with grpcio-status (`rpc_status.from_call`).

    `from_call` also checks that the status in the details matches grpc-status and
    grpc-message, and raises otherwise.
    """
    status = rpc_status.from_call(error)
    assert status is not None, f"no grpc-status-details-bin on {error.code()} {error.details()!r}"
    details: dict[str, list] = {}
    for detail in status.details:
        assert isinstance(detail, any_pb2.Any)
        name = detail.TypeName()
        assert name in DETAIL_TYPES, f"unexpected detail type {detail.type_url}"
        message = DETAIL_TYPES[name]()
        assert detail.Unpack(message), detail.type_url
        details.setdefault(name, []).append(message)
    rich = RichError(error.code(), error.details(), status, details)
    # Every error of the facade carries exactly one ErrorInfo of its domain.
    assert rich.info.domain == DOMAIN, rich
    assert rich.info.reason, rich
    return rich


def call_error(method, request, metadata=AUTH, timeout: float = 15.0) -> RichError:
    """Calls a unary method that must fail, and decodes its rich status."""
    with pytest.raises(grpc.RpcError) as raised:
        method(request, metadata=metadata, timeout=timeout)
    return decode(raised.value)


def violations(rich: RichError) -> list[tuple[str, str]]:
    """BadRequest's (field, reason) pairs, in order."""
    bad = rich.one(error_details_pb2.BadRequest)
    return [(v.field, v.reason) for v in bad.field_violations]


def run(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Runs a client command line, output captured as text."""
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )
