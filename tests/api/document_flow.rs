//! The document flow whole: ListReusableDocuments → CreateDocumentProcess
//! (new or reuse) → Get/WatchDocumentProcess until final, against the
//! emulator, asserting what went upstream for each read.

use std::time::{Duration, Instant};

use tokio_stream::StreamExt as _;
use tonic::Code;
use unico_facade::{
    emulator::{EmulatedEndpoint, FaultScript, RecordedRequest},
    pb::identity_v1::{
        DocumentType, GetDocumentProcessRequest, GetDocumentProcessResponse,
        ListReusableDocumentsRequest, ProcessStatus, WatchDocumentProcessRequest,
        WatchDocumentProcessResponse,
    },
};

use crate::helpers::{
    API_KEY, CPF, Expected, TOKEN, TestApp, answer, assert_status, authorized, authorized_with_key,
    field_violations, new_capture, small_png, spawn_app, valid_capture,
};

/// The document the emulator seeds for [`CPF`].
const SEEDED_DOCUMENT: &str = "doc-seeded-cnh";
const ASYNC_CAPTURE: &str = "auth-async-capture";

fn list_request(code: &str, document_type: DocumentType) -> ListReusableDocumentsRequest {
    ListReusableDocumentsRequest {
        code: code.to_owned(),
        document_type: document_type as i32,
    }
}

impl TestApp {
    async fn list(
        &self,
        request: ListReusableDocumentsRequest,
    ) -> Result<Vec<(String, i32, String)>, tonic::Status> {
        let response = self
            .document
            .clone()
            .list_reusable_documents(authorized_with_key(request))
            .await?;
        Ok(response
            .into_inner()
            .documents
            .into_iter()
            .map(|d| (d.id, d.r#type, d.type_name))
            .collect())
    }

    async fn get(&self, process_id: &str) -> Result<GetDocumentProcessResponse, tonic::Status> {
        self.document
            .clone()
            .get_document_process(authorized_with_key(GetDocumentProcessRequest {
                process_id: process_id.to_owned(),
            }))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn watch(
        &self,
        process_id: &str,
        timeout: Option<Duration>,
    ) -> Result<tonic::Streaming<WatchDocumentProcessResponse>, tonic::Status> {
        let mut request = authorized_with_key(WatchDocumentProcessRequest {
            process_id: process_id.to_owned(),
        });
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        self.document
            .clone()
            .watch_document_process(request)
            .await
            .map(tonic::Response::into_inner)
    }

    fn reads(&self, endpoint: EmulatedEndpoint) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.endpoint == Some(endpoint))
            .collect()
    }
}

/// The upstream request carries the caller's credentials, as both ID API
/// calls must.
fn assert_id_api_get(request: &RecordedRequest, path: &str, query: Option<&str>) {
    assert_eq!(request.method, "GET");
    assert_eq!(request.raw_path, path);
    assert_eq!(request.query.as_deref(), query);
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(request.header("apikey"), Some(API_KEY));
    assert!(request.body.is_empty(), "a GET has no body");
}

#[tokio::test]
async fn the_reusable_documents_of_a_person_are_listed_with_their_type() {
    let app = spawn_app().await;

    let documents = app
        .list(list_request(CPF, DocumentType::Cnh))
        .await
        .unwrap();

    assert_eq!(
        documents,
        vec![(
            SEEDED_DOCUMENT.to_owned(),
            DocumentType::Cnh as i32,
            "unico.moja.dictionary.br.cnh.v2.Cnh".to_owned()
        )]
    );
    let sent = app.reads(EmulatedEndpoint::ListReusableDocuments);
    assert_eq!(sent.len(), 1);
    assert_id_api_get(
        &sent[0],
        "/documents/v1",
        Some(&format!("code={CPF}&type=BR_CNH")),
    );
}

#[tokio::test]
async fn both_documented_empty_answers_are_an_empty_list() {
    let app = spawn_app().await;
    // The seeded person has no RG (`{"items":[]}`); another has nothing at all
    // (`{"items":[{}]}`).
    assert!(
        app.list(list_request(CPF, DocumentType::Rg))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        app.list(list_request("11144477735", DocumentType::Passaporte))
            .await
            .unwrap()
            .is_empty()
    );
    let sent = app.reads(EmulatedEndpoint::ListReusableDocuments);
    assert_eq!(
        sent[0].query.as_deref(),
        Some(&*format!("code={CPF}&type=BR_RG"))
    );
    assert_eq!(
        sent[1].query.as_deref(),
        Some("code=11144477735&type=BR_PASSPORT")
    );
}

#[tokio::test]
async fn a_captured_document_becomes_reusable_and_its_process_readable() {
    let app = spawn_app().await;
    let created = app.create_document(valid_capture()).await.unwrap();
    let document_id = created.document.as_ref().unwrap().id.clone();

    let listed = app
        .list(list_request(CPF, DocumentType::Cnh))
        .await
        .unwrap();
    assert!(
        listed.iter().any(|(id, ..)| *id == document_id),
        "{listed:?}"
    );

    let read = app.get(&created.id).await.unwrap();
    assert_eq!(read.id, created.id);
    assert_eq!(read.status, created.status);
    assert_eq!(
        read.document, created.document,
        "the same document, same shape"
    );
    let sent = app.reads(EmulatedEndpoint::GetDocumentProcess);
    assert_id_api_get(&sent[0], &format!("/processes/v1/{}", created.id), None);
}

#[tokio::test]
async fn an_asynchronous_capture_is_watched_until_final() {
    let app = spawn_app().await;
    let created = app
        .create_document(new_capture(ASYNC_CAPTURE, vec![small_png()]))
        .await
        .unwrap();
    assert_eq!(created.status, ProcessStatus::Processing as i32);
    assert!(created.document.is_none(), "no document while processing");

    let started = Instant::now();
    let mut stream = app
        .watch(&created.id, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    let mut states = Vec::new();
    while let Some(message) = stream.next().await {
        states.push(message.expect("no error on the stream"));
    }

    let statuses: Vec<i32> = states.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            ProcessStatus::Processing as i32,
            ProcessStatus::FinishedWithSuccess as i32
        ],
        "the state now, then its one change; the unchanged read is not repeated"
    );
    assert!(states[1].document.is_some());
    assert!(states.iter().all(|s| s.id == created.id));
    // Three reads (1, 1, 3) with pauses of 0.5 s and 1 s in between.
    let reads = app.reads(EmulatedEndpoint::GetDocumentProcess);
    assert_eq!(reads.len(), 3);
    for read in &reads {
        assert_id_api_get(read, &format!("/processes/v1/{}", created.id), None);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "the backoff doubles"
    );
}

#[tokio::test]
async fn a_watch_ends_at_its_deadline_when_the_process_stays_processing() {
    let app = spawn_app().await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::GetDocumentProcess),
        times: 100,
        ..answer(200, r#"{"id":"p-slow","status":1}"#)
    });

    let started = Instant::now();
    let mut stream = app
        .watch("p-slow", Some(Duration::from_millis(1200)))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.status, ProcessStatus::Processing as i32);
    let status = stream
        .next()
        .await
        .unwrap()
        .expect_err("ends with an error");

    assert_status(
        &status,
        Expected {
            code: Code::DeadlineExceeded,
            reason: "PROCESS_NOT_FINAL",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert!(stream.next().await.is_none());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1000) && elapsed < Duration::from_millis(1250),
        "at the caller's deadline, answered before tonic's own timer: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_cancelled_watch_stops_reading_upstream() {
    let app = spawn_app().await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::GetDocumentProcess),
        times: 100,
        ..answer(200, r#"{"id":"p-slow","status":1}"#)
    });
    let mut stream = app.watch("p-slow", None).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);

    let reads_at_cancel = app.reads(EmulatedEndpoint::GetDocumentProcess).len();
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        app.reads(EmulatedEndpoint::GetDocumentProcess).len(),
        reads_at_cancel,
        "no read after the caller went away"
    );
}

#[tokio::test]
async fn an_error_on_a_later_read_ends_the_stream_with_its_status() {
    let app = spawn_app().await;
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::GetDocumentProcess),
        ..answer(200, r#"{"id":"proc-doc-gone","status":1}"#)
    });
    let mut stream = app.watch("proc-doc-gone", None).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap().status,
        ProcessStatus::Processing as i32
    );
    let status = stream.next().await.unwrap().expect_err("the 410 ends it");
    let details = assert_status(
        &status,
        Expected {
            code: Code::NotFound,
            reason: "PROCESS_GONE",
            upstream_http_status: Some("410"),
            upstream_code: Some("process_gone"),
        },
    );
    let resource = details.resource_info().expect("ResourceInfo");
    assert_eq!(
        (
            resource.resource_type.as_str(),
            resource.resource_name.as_str()
        ),
        ("process", "proc-doc-gone")
    );
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn every_documented_read_error_is_mapped() {
    let app = spawn_app().await;
    let cases = [
        (
            "no-such-process",
            Code::NotFound,
            "PROCESS_NOT_FOUND",
            "404",
            Some("process_not_found"),
        ),
        (
            "proc-doc-gone",
            Code::NotFound,
            "PROCESS_GONE",
            "410",
            Some("process_gone"),
        ),
        (
            "proc-doc-rate-limited",
            Code::ResourceExhausted,
            "UPSTREAM_RATE_LIMITED",
            "429",
            None,
        ),
    ];
    for (id, code, reason, http, upstream_code) in cases {
        let status = app.get(id).await.expect_err(id);
        let details = assert_status(
            &status,
            Expected {
                code,
                reason,
                upstream_http_status: Some(http),
                upstream_code,
            },
        );
        if code == Code::ResourceExhausted {
            assert_eq!(
                details.retry_info().and_then(|r| r.retry_delay),
                Some(Duration::from_secs(2))
            );
        }
    }
    // 403: a token the vendor refuses (the caller's own: UNAUTHENTICATED).
    let mut request = tonic::Request::new(GetDocumentProcessRequest {
        process_id: "no-such-process".into(),
    });
    request
        .metadata_mut()
        .insert("authorization", "Bearer not-a-token".parse().unwrap());
    request
        .metadata_mut()
        .insert("apikey", API_KEY.parse().unwrap());
    let status = app
        .document
        .clone()
        .get_document_process(request)
        .await
        .unwrap_err();
    assert_status(
        &status,
        Expected {
            code: Code::Unauthenticated,
            reason: "ACCESS_TOKEN_INVALID",
            upstream_http_status: Some("403"),
            upstream_code: Some("10501"),
        },
    );
    let sent = app.reads(EmulatedEndpoint::GetDocumentProcess);
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[1].raw_path, "/processes/v1/proc-doc-gone");
}

#[tokio::test]
async fn bad_reads_are_refused_locally_with_every_violation() {
    let app = spawn_app().await;
    let status = app
        .list(list_request(" ", DocumentType::Unspecified))
        .await
        .unwrap_err();
    let details = assert_status(
        &status,
        Expected {
            code: Code::InvalidArgument,
            reason: "CODE_REQUIRED",
            upstream_http_status: None,
            upstream_code: None,
        },
    );
    assert_eq!(
        field_violations(&details),
        [
            ("code".to_owned(), "CODE_REQUIRED".to_owned()),
            (
                "document_type".to_owned(),
                "DOCUMENT_TYPE_REQUIRED".to_owned()
            )
        ]
    );
    let status = app
        .list(list_request("529.982.247-25", DocumentType::Cnh))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&tonic_types::StatusExt::get_error_details(&status)),
        [("code".to_owned(), "CODE_FORMATTED".to_owned())]
    );

    for (id, reason) in [("..", "PROCESS_ID_INVALID"), ("", "PROCESS_ID_INVALID")] {
        let status = app.get(id).await.unwrap_err();
        assert_status(
            &status,
            Expected {
                code: Code::InvalidArgument,
                reason,
                upstream_http_status: None,
                upstream_code: None,
            },
        );
        let status = app.watch(id, None).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    // Pass-through credentials missing: refused before any work.
    let status = app
        .document
        .clone()
        .get_document_process(authorized(GetDocumentProcessRequest {
            process_id: "p".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(app.requests().is_empty(), "nothing was sent upstream");
}

#[tokio::test]
async fn reads_and_watches_are_counted_by_route_template_without_personal_data() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    app.list(list_request(CPF, DocumentType::Cnh))
        .await
        .unwrap();
    let created = app
        .create_document(new_capture(ASYNC_CAPTURE, vec![small_png()]))
        .await
        .unwrap();
    let mut stream = app.watch(&created.id, None).await.unwrap();
    while stream.next().await.is_some() {}
    app.get("proc-doc-gone").await.unwrap_err();
    // A watch of a final process ends after its one message.
    let mut again = app.watch(&created.id, None).await.unwrap();
    while again.next().await.is_some() {}
    // A watch the caller cancels is counted (and logged) too.
    app.script(FaultScript {
        endpoint: Some(EmulatedEndpoint::GetDocumentProcess),
        times: 100,
        ..answer(200, r#"{"id":"p-slow","status":1}"#)
    });
    let mut cancelled = app.watch("p-slow", None).await.unwrap();
    drop(cancelled.next().await);
    drop(cancelled);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let text = crate::helpers::scrape(&app).await;
    let value = |series: &str| crate::helpers::value_of(&text, series);
    let calls = |method: &str, code: &str| {
        value(&format!(
            "unico_facade_rpc_requests_total{{method=\"{method}\",code=\"{code}\"}}"
        ))
    };
    assert_eq!(calls("ListReusableDocuments", "OK"), 1.0);
    assert_eq!(calls("WatchDocumentProcess", "OK"), 2.0);
    assert_eq!(calls("WatchDocumentProcess", "CANCELLED"), 1.0);
    assert_eq!(calls("GetDocumentProcess", "NOT_FOUND"), 1.0);
    assert_eq!(
        value("unico_facade_rpc_in_flight{method=\"WatchDocumentProcess\"}"),
        0.0
    );
    let upstream = |route: &str, status: &str, code: &str| {
        value(&format!(
            "unico_facade_upstream_requests_total{{endpoint=\"{route}\",http_status=\"{status}\",vendor_code=\"{code}\"}}"
        ))
    };
    assert_eq!(upstream("GET /documents/v1", "200", "none"), 1.0);
    assert!(upstream("GET /processes/v1/{processId}", "200", "none") >= 3.0);
    assert_eq!(
        upstream("GET /processes/v1/{processId}", "410", "other"),
        1.0
    );
    assert!(!text.contains(CPF), "no identifier in a label");
    assert!(!text.contains(&created.id), "no process id in a label");
}
