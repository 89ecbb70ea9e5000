"""The process flow from grpcurl only (issue 14's "done when"): CreateProcess with a custom
flow -> SetProcessDocument -> the journey finished through the emulator's admin API -> a
WatchProcess started earlier ends with the finished process within a second of the vendor's
webhook, with no polling read in between; without the webhook, the same watch ends by polling.
Each variant runs its own release binary (the webhook listener is a start-up setting)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, start, wait_until_serving
from support import CPF, TOKEN

GRPCURL = str(Path(sys.executable).parent / "grpcurl")
AUTH = ["-H", f"authorization: Bearer {TOKEN}"]
PROCESS = "unico.identity.v1.ProcessService"
WEBHOOK_USER = "idcloud"
WEBHOOK_SECRET = "interop-webhook-s3cret-6c2a"


def serve(tmp_path_factory, name, extra_args, env=None):
    logs = tmp_path_factory.mktemp(name)
    for attempt in range(3):
        server = start(logs / f"{name}-{attempt}.log", extra_args, env)
        try:
            wait_until_serving(server)
            return server
        except RuntimeError as error:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()
            if "cannot listen" not in str(error) or attempt == 2:
                pytest.fail(f"the facade did not start: {error}", pytrace=False)


def stop(server):
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0, server.log_tail()
    log = server.log_path.read_text(errors="replace")
    for secret in (WEBHOOK_SECRET, TOKEN, CPF, "ana@example.com"):
        assert secret not in log, f"{secret} logged"


@pytest.fixture(scope="module")
def webhook_server(tmp_path_factory):
    port = free_port()
    server = serve(
        tmp_path_factory,
        "webhook",
        ["--webhook-listen", f"127.0.0.1:{port}", "--webhook-username", WEBHOOK_USER],
        {"UNICO_FACADE_WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    server.webhook_url = f"http://127.0.0.1:{port}/webhooks/process-finished"
    yield server
    stop(server)


@pytest.fixture(scope="module")
def polling_server(tmp_path_factory):
    server = serve(tmp_path_factory, "polling", ["--watch-backoff-max", "500ms"])
    yield server
    stop(server)


def grpcurl(server, method, body):
    return subprocess.run(
        [GRPCURL, "-plaintext", *AUTH, "-d", json.dumps(body), server.address, f"{PROCESS}/{method}"],
        capture_output=True, text=True, timeout=60, check=False,
    )


def reads(server, process_id):
    return [
        r for r in server.recorded_requests()
        if r["method"] == "GET" and r["raw_path"] == f"/client/v1/process/{process_id}"
    ]


def messages(text):
    decoder, text, out = json.JSONDecoder(), text.strip(), []
    while text:
        message, end = decoder.raw_decode(text)
        out.append(message)
        text = text[end:].strip()
    return out


def journey(server):
    """Create, set the document, start a watch; returns (process id, the watch, reads so far)."""
    created = grpcurl(server, "CreateProcess", {
        "flow": "idunicodocs_r2", "purpose": "creditprocess", "callback_uri": "/",
        "expires_in": "3600s",
        "person": {"friendly_name": "Ana", "email": "ana@example.com",
                   "notification_channels": ["NOTIFICATION_CHANNEL_EMAIL"]},
    })
    assert created.returncode == 0, created.stderr
    process = json.loads(created.stdout)["process"]
    assert process["state"] == "PROCESS_STATE_AWAITING_FOR_DOCUMENT", process
    assert process["stateName"] == "AWAITING_FOR_DOCUMENT"
    sent = [r for r in server.recorded_requests() if r["raw_path"] == "/client/v1/process"][-1]
    assert json.loads(sent["body"])["expiresIn"] == "3600s"

    document = grpcurl(server, "SetProcessDocument", {
        "process_id": process["id"], "dui_type": "DUI_TYPE_BR_CPF", "dui_value": CPF,
    })
    assert document.returncode == 0, document.stderr

    watch = subprocess.Popen(
        [GRPCURL, "-plaintext", "-max-time", "60", *AUTH, "-d",
         json.dumps({"process_id": process["id"]}), server.address, f"{PROCESS}/WatchProcess"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 20
    while not reads(server, process["id"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return process["id"], watch


def test_a_watch_ends_within_a_second_of_the_webhook(webhook_server):
    server = webhook_server
    status, _ = server.admin("PUT", "webhook", {
        "url": server.webhook_url,
        "auth": {"basic": {"username": WEBHOOK_USER, "password": WEBHOOK_SECRET}},
    })
    assert status == 204
    process_id, watch = journey(server)
    time.sleep(1.0)  # a poll would show here; the fallback is 30 s
    before = len(reads(server, process_id))
    assert before == 1, "one read on start, no polling"

    finished = time.monotonic()
    status, _ = server.admin("POST", f"journeys/{process_id}/finish", {"result": "ok"})
    assert status == 202
    out, err = watch.communicate(timeout=30)
    elapsed = time.monotonic() - finished

    assert watch.returncode == 0, err
    states = messages(out)
    assert states[0]["process"]["state"] == "PROCESS_STATE_CREATED"
    assert states[0]["process"]["person"]["duiType"] == "DUI_TYPE_BR_CPF"
    assert states[-1]["process"]["state"] == "PROCESS_STATE_FINISHED"
    assert states[-1]["process"]["result"] == "PROCESS_RESULT_OK"
    assert elapsed < 1.0, f"the watch ended {elapsed:.3f} s after the finish"
    assert len(reads(server, process_id)) == 2, "only the read the webhook caused"
    _, deliveries = server.admin("GET", "webhook/deliveries")
    assert [d["status"] for d in deliveries if d["processId"] == process_id] == [200]

    got = grpcurl(server, "GetProcess", {"process_id": process_id})
    assert json.loads(got.stdout)["process"]["result"] == "PROCESS_RESULT_OK"


def test_without_the_webhook_the_watch_ends_by_polling(polling_server):
    server = polling_server
    process_id, watch = journey(server)
    status, _ = server.admin("POST", f"journeys/{process_id}/finish", {"result": "invalid_identity"})
    assert status == 202
    out, err = watch.communicate(timeout=30)
    assert watch.returncode == 0, err
    states = messages(out)
    assert states[-1]["process"]["state"] == "PROCESS_STATE_FINISHED"
    assert states[-1]["process"]["result"] == "PROCESS_RESULT_INVALID_IDENTITY"
    assert len(reads(server, process_id)) >= 2, "ended by a poll"
