"""The server under test and the clients' shared setup.

One release binary (`serve --emulator`) serves the whole session on free loopback ports;
readiness is the gRPC health check, never a sleep; SIGTERM stops it: health must turn
NOT_SERVING while it drains, and it must exit 0.
Python stubs are generated from `proto/` at test time with grpcio-tools.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support import API_KEY, CPF, PROTO, ROOT, TOKEN

BINARY = Path(os.environ.get("INTEROP_BINARY", ROOT / "target" / "release" / "unico-facade"))
READY_WITHIN_S = 60.0
STOP_WITHIN_S = 30.0
DRAIN_DELAY = "1s"
# Credentials and personal data the tests send (support.py, fixtures), to be found in no log line.
NEVER_LOGGED = [
    TOKEN,
    API_KEY,
    "emulator-expired-token",
    CPF,
    "52998224724",
    "529.982.247-25",
    "Luke Skywalker",
    "luke@example.com",
    "+5511999998888",
]


# ---------------------------------------------------------------- the summary line


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Ends the report with the plain `N passed, N failed` line (errors count as failed).

    The same counts go to $INTEROP_SUMMARY_FILE, so that interop/run can print the line
    last, after pytest's own closing line.
    """
    stats = terminalreporter.stats
    passed = sum(1 for r in stats.get("passed", []) if getattr(r, "when", "call") == "call")
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    skipped = len(stats.get("skipped", []))
    line = f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
    terminalreporter.write_line(line)
    summary_file = os.environ.get("INTEROP_SUMMARY_FILE")
    if summary_file:
        Path(summary_file).write_text(line + "\n")


# ---------------------------------------------------------------- stubs


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """Python stubs generated now from proto/ (grpc_tools bundles the well-known types)."""
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("stubs")
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    protos = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    assert protos, f"no .proto under {PROTO}"
    argv = [
        "grpc_tools.protoc",
        f"-I{PROTO}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    assert protoc.main(argv) == 0, f"protoc failed: {argv}"
    sys.path.insert(0, str(out))
    base = "unico.identity.v1."
    return SimpleNamespace(
        identifiers=importlib.import_module(base + "identifiers_pb2"),
        process=importlib.import_module(base + "process_service_pb2"),
        process_grpc=importlib.import_module(base + "process_service_pb2_grpc"),
        document=importlib.import_module(base + "document_service_pb2"),
        document_grpc=importlib.import_module(base + "document_service_pb2_grpc"),
    )


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_status(address: str, service: str = "", timeout: float = 0.5):
    """One health check on a fresh channel (no reconnect backoff carried between polls)."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout).status


@dataclass
class Server:
    address: str  # host:port of the gRPC listener
    emulator_url: str  # base URL of the embedded emulator (admin API under /__emulator/)
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # The emulator's admin API (src/emulator/admin.rs).
    def admin(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.emulator_url}/__emulator/{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"} if data else {},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
            return response.status, (json.loads(payload) if payload else None)

    def script_fault(self, **fault) -> None:
        status, _ = self.admin("POST", "faults", fault)
        assert status == 204, status

    def clear_faults(self) -> None:
        status, _ = self.admin("DELETE", "faults")
        assert status == 204, status

    def recorded_requests(self) -> list:
        _, requests = self.admin("GET", "requests")
        return requests


def start(log_path: Path, extra_args=(), env=None) -> Server:
    grpc_port, emulator_port = free_port(), free_port()
    while emulator_port == grpc_port:
        emulator_port = free_port()
    argv = [
        str(BINARY),
        "serve",
        "--emulator",
        "--listen",
        f"127.0.0.1:{grpc_port}",
        "--emulator-listen",
        f"127.0.0.1:{emulator_port}",
        "--log-format",
        "json",
        # SIGTERM first turns health NOT_SERVING while still accepting, for this long (5 s by
        # default, for a mesh); 1 s is enough to observe it and keeps the suite quick.
        "--drain-delay",
        DRAIN_DELAY,
        *extra_args,
    ]
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )
    log.close()
    return Server(f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{emulator_port}", process, log_path)


def wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            status = health_status(server.address)
            if status == health_pb2.HealthCheckResponse.SERVING:
                return
            last = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
        except grpc.RpcError as error:
            last = f"{error.code().name}: {error.details()}"
        time.sleep(0.05)  # between polls only; readiness itself is the health answer
    server.process.kill()
    raise RuntimeError(f"not SERVING within {READY_WITHIN_S:.0f} s ({last}):\n{server.log_tail()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    assert BINARY.is_file(), f"{BINARY} is missing: run `cargo build --release` (interop/run does)"
    logs = tmp_path_factory.mktemp("server")
    started = None
    for attempt in range(3):  # a free port can be taken between the probe and the bind
        candidate = start(logs / f"server-{attempt}.log")
        try:
            wait_until_serving(candidate)
            started = candidate
            break
        except RuntimeError as error:
            if candidate.process.poll() is None:
                candidate.process.kill()
                candidate.process.wait()
            if "cannot listen" not in str(error) or attempt == 2:
                pytest.fail(f"the facade did not start: {error}", pytrace=False)
    yield started

    started.process.send_signal(signal.SIGTERM)
    draining = observe_draining(started)
    try:
        code = started.process.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        started.process.kill()
        started.process.wait()
        pytest.fail(f"no exit within {STOP_WITHIN_S:.0f} s of SIGTERM:\n{started.log_tail()}")
    assert code == 0, f"exit status {code} after SIGTERM:\n{started.log_tail()}"
    assert draining, f"health never said NOT_SERVING after SIGTERM:\n{started.log_tail()}"
    # After every path above ran: no credential and no personal data the clients sent was logged.
    log = started.log_path.read_text(errors="replace")
    leaked = [secret for secret in NEVER_LOGGED if secret in log]
    assert not leaked, f"logged: {leaked}"


def observe_draining(server: Server) -> bool:
    """Whether health `""` answers NOT_SERVING during the drain delay after SIGTERM."""
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if health_status(server.address) == health_pb2.HealthCheckResponse.NOT_SERVING:
                return True
        except grpc.RpcError:
            pass  # not told yet, or the listener already closed
        time.sleep(0.02)
    return False


@pytest.fixture
def emulator(server):
    """The server, with no scripted fault left before or after the test."""
    server.clear_faults()
    yield server
    server.clear_faults()


# ---------------------------------------------------------------- Python clients


@pytest.fixture(scope="session")
def channel(server):
    with grpc.insecure_channel(server.address) as channel:
        yield channel


@pytest.fixture(scope="session")
def process_stub(pb, channel):
    return pb.process_grpc.ProcessServiceStub(channel)


@pytest.fixture(scope="session")
def document_stub(pb, channel):
    return pb.document_grpc.DocumentServiceStub(channel)
