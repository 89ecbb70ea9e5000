"""Every RPC, answered, through stubs grpcio-tools generated from proto/ just now."""

import json

from google.protobuf import json_format

from support import AUTH, CPF, DOC_AUTH, SEEDED_DOCUMENT, awaiting_id, capture, png, reuse


def test_set_process_document_sets_a_cpf(pb, process_stub, emulator):
    process_id = awaiting_id()
    request = pb.process.SetProcessDocumentRequest(
        process_id=process_id, dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
    )
    response = process_stub.SetProcessDocument(request, metadata=AUTH, timeout=15)
    assert response.process.id == process_id
    assert response.process.person.dui_type == pb.identifiers.DUI_TYPE_BR_CPF
    assert response.process.person.dui_value == CPF
    assert response.process.person.dui_type_name == "DUI_TYPE_BR_CPF"
    # What went upstream: one POST to the process's document, the token forwarded.
    sent = [r for r in emulator.recorded_requests() if process_id in json.dumps(r)]
    assert len(sent) == 1, sent


def test_set_process_document_accepts_curp_and_ssn(pb, process_stub):
    for dui_type, value in [
        (pb.identifiers.DUI_TYPE_MX_CURP, "GODE561231HDFRRN09"),
        (pb.identifiers.DUI_TYPE_US_SSN, "123456789"),
    ]:
        request = pb.process.SetProcessDocumentRequest(
            process_id=awaiting_id(), dui_type=dui_type, dui_value=value
        )
        response = process_stub.SetProcessDocument(request, metadata=AUTH, timeout=15)
        assert response.process.person.dui_type == dui_type
        assert response.process.person.dui_value == value


def test_a_bare_token_gets_the_bearer_scheme(pb, process_stub):
    request = pb.process.SetProcessDocumentRequest(
        process_id=awaiting_id(), dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
    )
    response = process_stub.SetProcessDocument(
        request, metadata=(("authorization", "emulator-token"),), timeout=15
    )
    assert response.process.person.dui_value == CPF


def test_create_document_process_new_capture(pb, document_stub):
    full = capture(pb)
    full.subject.gender = pb.document.GENDER_MALE
    full.subject.birth_date = "1977-05-25"
    full.subject.email = "luke@example.com"
    full.subject.phone = "+5511999998888"
    full.subsidiary_id = "subsidiary-1"
    full.document.new_capture.files.append(pb.document.DocumentFile(data=png(480, 640)))
    response = document_stub.CreateDocumentProcess(full, metadata=DOC_AUTH, timeout=15)
    assert response.id
    assert response.status == pb.document.PROCESS_STATUS_FINISHED_WITH_SUCCESS
    document = response.document
    assert document.id
    assert document.type == pb.document.DOCUMENT_TYPE_CNH
    assert document.type_name == "unico.moja.dictionary.br.cnh.v2.Cnh"
    assert document.HasField("cpf_match") and document.cpf_match
    assert document.HasField("face_match") and document.face_match
    content = json_format.MessageToDict(document.content)
    assert content["cpfNumero"] == CPF
    assert isinstance(content["filiacao"], list)
    assert document.file_urls and all(u.startswith("https://") for u in document.file_urls)


def test_create_document_process_face_mismatch_and_divergent_cpf(pb, document_stub):
    mismatch = document_stub.CreateDocumentProcess(
        capture(pb, "auth-face-mismatch"), metadata=DOC_AUTH, timeout=15
    )
    assert mismatch.document.HasField("face_match") and not mismatch.document.face_match
    divergent = document_stub.CreateDocumentProcess(
        capture(pb, name="Nome Divergente"), metadata=DOC_AUTH, timeout=15
    )
    assert divergent.status == pb.document.PROCESS_STATUS_FINISHED_WITH_FAILURE
    assert divergent.document.HasField("cpf_match") and not divergent.document.cpf_match


def test_an_unknown_status_and_document_type_keep_their_raw_values(pb, document_stub):
    response = document_stub.CreateDocumentProcess(
        capture(pb, "auth-unknown-type"), metadata=DOC_AUTH, timeout=15
    )
    assert response.status == 7  # proto3 enums are open: the vendor's number travels
    assert response.document.type == pb.document.DOCUMENT_TYPE_UNSPECIFIED
    assert response.document.type_name == "unico.moja.dictionary.br.future.v9.Future"


def test_create_document_process_reuse_of_the_seeded_document(pb, document_stub):
    response = document_stub.CreateDocumentProcess(
        reuse(pb, SEEDED_DOCUMENT), metadata=DOC_AUTH, timeout=15
    )
    assert response.id
    assert response.document.id == SEEDED_DOCUMENT
    assert response.document.type == pb.document.DOCUMENT_TYPE_CNH


def test_a_captured_document_is_reusable_by_its_subject(pb, document_stub):
    captured = document_stub.CreateDocumentProcess(capture(pb), metadata=DOC_AUTH, timeout=15)
    reused = document_stub.CreateDocumentProcess(
        reuse(pb, captured.document.id), metadata=DOC_AUTH, timeout=15
    )
    assert reused.document.id == captured.document.id
    assert reused.id != captured.id



def test_list_reusable_documents_then_watch_an_asynchronous_capture(pb, document_stub, emulator):
    listed = document_stub.ListReusableDocuments(
        pb.document.ListReusableDocumentsRequest(code=CPF, document_type=pb.document.DOCUMENT_TYPE_CNH),
        metadata=DOC_AUTH,
        timeout=15,
    )
    assert SEEDED_DOCUMENT in [d.id for d in listed.documents]
    none = document_stub.ListReusableDocuments(
        pb.document.ListReusableDocumentsRequest(code=CPF, document_type=pb.document.DOCUMENT_TYPE_RG),
        metadata=DOC_AUTH,
        timeout=15,
    )
    assert list(none.documents) == []

    created = document_stub.CreateDocumentProcess(
        capture(pb, "auth-async-capture"), metadata=DOC_AUTH, timeout=15
    )
    assert created.status == pb.document.PROCESS_STATUS_PROCESSING
    assert not created.HasField("document")
    states = list(
        document_stub.WatchDocumentProcess(
            pb.document.WatchDocumentProcessRequest(process_id=created.id),
            metadata=DOC_AUTH,
            timeout=15,
        )
    )
    assert [s.status for s in states] == [
        pb.document.PROCESS_STATUS_PROCESSING,
        pb.document.PROCESS_STATUS_FINISHED_WITH_SUCCESS,
    ]
    assert states[-1].document.type == pb.document.DOCUMENT_TYPE_CNH
    read = document_stub.GetDocumentProcess(
        pb.document.GetDocumentProcessRequest(process_id=created.id), metadata=DOC_AUTH, timeout=15
    )
    assert read.document.id == states[-1].document.id
    # What went upstream: GETs with the query and path the vendor documents.
    sent = emulator.recorded_requests()
    lists = [r for r in sent if r["raw_path"] == "/documents/v1"]
    assert {r["query"] for r in lists} >= {f"code={CPF}&type=BR_CNH", f"code={CPF}&type=BR_RG"}
    assert all(r["method"] == "GET" for r in lists)
    reads = [r for r in sent if r["raw_path"] == f"/processes/v1/{created.id}"]
    assert len(reads) == 4 and all(r["method"] == "GET" for r in reads)


def test_create_get_and_watch_a_journey_by_polling(pb, process_stub, emulator):
    """The session server has no webhook receiver: the watch ends by polling. Well-known types
    (Duration, Timestamp, Struct) and the open enums decode in grpcio."""
    from google.protobuf import duration_pb2

    request = pb.process.CreateProcessRequest(
        flow="idunicodocs_r2",
        purpose="creditprocess",
        callback_uri="/",
        expires_in=duration_pb2.Duration(seconds=600),
        client_reference="py-1",
    )
    created = process_stub.CreateProcess(request, metadata=AUTH, timeout=15).process
    assert created.state == pb.process.PROCESS_STATE_AWAITING_FOR_DOCUMENT
    assert created.created_at.seconds > 0
    assert "services" in json_format.MessageToDict(created.unmodelled)
    sent = [r for r in emulator.recorded_requests() if r["raw_path"] == "/client/v1/process"][-1]
    assert json.loads(sent["body"]) == {
        "callbackUri": "/", "flow": "idunicodocs_r2", "purpose": "creditprocess",
        "expiresIn": "600s", "clientReference": "py-1",
    }
    process_stub.SetProcessDocument(
        pb.process.SetProcessDocumentRequest(
            process_id=created.id, dui_type=pb.identifiers.DUI_TYPE_BR_CPF, dui_value=CPF
        ),
        metadata=AUTH,
        timeout=15,
    )
    read = process_stub.GetProcess(
        pb.process.GetProcessRequest(process_id=created.id), metadata=AUTH, timeout=15
    ).process
    assert read.state == pb.process.PROCESS_STATE_CREATED
    assert read.person.dui_value == CPF

    watch = process_stub.WatchProcess(
        pb.process.WatchProcessRequest(process_id=created.id), metadata=AUTH, timeout=60
    )
    first = next(watch).process
    assert first.state == pb.process.PROCESS_STATE_CREATED
    status, _ = emulator.admin("POST", f"journeys/{created.id}/finish", {"result": "expired"})
    assert status == 202
    last = [m.process for m in watch][-1]
    assert last.state == pb.process.PROCESS_STATE_FINISHED
    assert last.result == pb.process.PROCESS_RESULT_EXPIRED
    assert last.result_name == "PROCESS_RESULT_EXPIRED"
