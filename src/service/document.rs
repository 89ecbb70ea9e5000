//! `unico.identity.v1.DocumentService`: document capture and reuse on the ID API.

use std::sync::{Mutex, PoisonError};

use tonic::{Request, Response, Status};

use super::{
    Shared, SharedState, WatchStream, call_upstream,
    content::{self, TRUNCATED_KEY, Truncation},
    watch,
};
use crate::{
    domain::{DocumentKind, ProcessId},
    idempotency::{Fingerprint, Idempotent},
    pb::identity_v1::{
        self as pb, CreateDocumentProcessRequest, CreateDocumentProcessResponse,
        GetDocumentProcessRequest, GetDocumentProcessResponse, ListReusableDocumentsRequest,
        ListReusableDocumentsResponse, WatchDocumentProcessRequest, WatchDocumentProcessResponse,
        document_service_server::DocumentService,
    },
    status::{CallContext, FacadeError},
    upstream::{Api, Capture, CapturedDocument, DocumentProcess, Endpoint, ReusableDocument},
    validation,
};

/// The vendor's final statuses: finished with success, canceled, finished
/// with failure (`more-endpoints.md`).
const FINAL_STATUSES: [i32; 3] = [3, 4, 5];

/// Serves `DocumentService`.
#[derive(Debug, Clone)]
pub struct DocumentHandler {
    shared: SharedState,
}

impl DocumentHandler {
    pub fn new(shared: SharedState) -> Self {
        Self { shared }
    }

    async fn create(
        &self,
        request: Request<CreateDocumentProcessRequest>,
    ) -> (
        Idempotent<CreateDocumentProcessResponse>,
        Option<Truncation>,
    ) {
        let fresh = |error: FacadeError| {
            let outcome = Idempotent {
                outcome: Err(error),
                replayed: false,
            };
            (outcome, None)
        };
        let deadline = match self.shared.admit(&request, Api::Id) {
            Ok(deadline) => deadline,
            Err(error) => return fresh(error.into()),
        };
        let call =
            match validation::create_document_process(request.get_ref(), &self.shared.image_limits)
            {
                Ok(call) => call,
                Err(error) => return fresh(error.into()),
            };
        let fingerprint = || {
            Fingerprint::of(&CreateDocumentProcessRequest {
                request_id: String::new(),
                ..request.get_ref().clone()
            })
        };
        let (shared, metadata, call) = (&self.shared, request.metadata(), &call);
        let upstream = &shared.upstream;
        let truncated = Mutex::new(None);
        let truncated = &truncated;
        let create = || async move {
            let process = call_upstream(
                shared,
                metadata,
                Endpoint::CreateDocumentProcess,
                CallContext {
                    resource_name: None,
                    // The biometric process is what a selfie-JWT condition is about.
                    precondition_subject: Some(call.auth_process_id.clone()),
                    reusing_document: matches!(call.capture, Capture::Reuse { .. }),
                },
                deadline,
                |credentials, budget| async move {
                    upstream
                        .create_document_process(&credentials, call, budget)
                        .await
                },
            )
            .await?;
            let (response, cut) = to_response(process);
            *truncated.lock().unwrap_or_else(PoisonError::into_inner) = cut;
            Ok(response)
        };
        let outcome = self
            .shared
            .idempotency
            .run(
                Endpoint::CreateDocumentProcess,
                request.metadata(),
                &request.get_ref().request_id,
                fingerprint,
                deadline.at,
                create,
            )
            .await;
        // Known only for a fresh answer: a replay is the stored message.
        let cut = *truncated.lock().unwrap_or_else(PoisonError::into_inner);
        (outcome, cut)
    }

    async fn list(
        &self,
        request: Request<ListReusableDocumentsRequest>,
    ) -> Result<ListReusableDocumentsResponse, FacadeError> {
        let deadline = self.shared.admit(&request, Api::Id)?;
        let call = validation::list_reusable_documents(request.get_ref())?;
        let (upstream, call) = (&self.shared.upstream, &call);
        let documents = call_upstream(
            &self.shared,
            request.metadata(),
            Endpoint::ListReusableDocuments,
            CallContext::default(),
            deadline,
            |credentials, budget| async move {
                upstream
                    .list_reusable_documents(&credentials, call, budget)
                    .await
            },
        )
        .await?;
        Ok(ListReusableDocumentsResponse {
            documents: documents.into_iter().map(to_reusable).collect(),
        })
    }

    async fn get(
        &self,
        request: Request<GetDocumentProcessRequest>,
    ) -> Result<(GetDocumentProcessResponse, Option<Truncation>), FacadeError> {
        let deadline = self.shared.admit(&request, Api::Id)?;
        let process_id = validation::document_process_id(&request.get_ref().process_id)?;
        let process = read_process(&self.shared, request.metadata(), &process_id, deadline).await?;
        let (id, status, document, truncated) = to_parts(process);
        let response = GetDocumentProcessResponse {
            id,
            status,
            document,
        };
        Ok((response, truncated))
    }
}

/// One read of a document process, as GetDocumentProcess and each step of
/// WatchDocumentProcess make it.
async fn read_process(
    shared: &Shared,
    metadata: &tonic::metadata::MetadataMap,
    process_id: &ProcessId,
    deadline: impl Into<super::CallDeadline>,
) -> Result<DocumentProcess, FacadeError> {
    let upstream = &shared.upstream;
    call_upstream(
        shared,
        metadata,
        Endpoint::GetDocumentProcess,
        CallContext {
            resource_name: Some(process_id.to_string()),
            ..CallContext::default()
        },
        deadline,
        |credentials, budget| async move {
            upstream
                .get_document_process(&credentials, process_id, budget)
                .await
        },
    )
    .await
}

#[tonic::async_trait]
impl DocumentService for DocumentHandler {
    async fn create_document_process(
        &self,
        request: Request<CreateDocumentProcessRequest>,
    ) -> Result<Response<CreateDocumentProcessResponse>, Status> {
        let scope = self.shared.begin("CreateDocumentProcess", &request);
        if let Some(overloaded) = scope.overloaded() {
            return Err(scope.close_with(&overloaded));
        }
        let (Idempotent { outcome, replayed }, truncated) = self.create(request).await;
        let answer = finish_marking_truncation(scope, outcome.map(|message| (message, truncated)));
        Idempotent::mark(replayed, answer)
    }

    async fn list_reusable_documents(
        &self,
        request: Request<ListReusableDocumentsRequest>,
    ) -> Result<Response<ListReusableDocumentsResponse>, Status> {
        let scope = self.shared.begin("ListReusableDocuments", &request);
        if let Some(overloaded) = scope.overloaded() {
            return Err(scope.close_with(&overloaded));
        }
        scope.finish(self.list(request).await)
    }

    async fn get_document_process(
        &self,
        request: Request<GetDocumentProcessRequest>,
    ) -> Result<Response<GetDocumentProcessResponse>, Status> {
        let scope = self.shared.begin("GetDocumentProcess", &request);
        if let Some(overloaded) = scope.overloaded() {
            return Err(scope.close_with(&overloaded));
        }
        finish_marking_truncation(scope, self.get(request).await)
    }

    type WatchDocumentProcessStream = WatchStream<WatchDocumentProcessResponse>;

    async fn watch_document_process(
        &self,
        request: Request<WatchDocumentProcessRequest>,
    ) -> Result<Response<Self::WatchDocumentProcessStream>, Status> {
        let scope = self.shared.begin("WatchDocumentProcess", &request);
        // Refusals come before the stream starts, as a unary call's would.
        if let Some(overloaded) = scope.overloaded() {
            return Err(scope.close_with(&overloaded));
        }
        let shared = self.shared.clone();
        let deadline = shared
            .admit_within(&request, Api::Id, shared.watch.timeout)
            .map_err(|error| scope.close_with(&error.into()))?;
        let process_id = validation::document_process_id(&request.get_ref().process_id)
            .map_err(|error| scope.close_with(&error.into()))?;
        let metadata = request.metadata().clone();
        let response = scope.respond(());
        let pacing = shared.watch.backoff();
        let read = move || {
            let (shared, metadata, process_id) =
                (shared.clone(), metadata.clone(), process_id.clone());
            async move {
                let process = read_process(&shared, &metadata, &process_id, deadline).await?;
                // Content cut mid-stream is only logged: the response's
                // metadata has gone already.
                let (id, status, document, _truncated) = to_parts(process);
                Ok(WatchDocumentProcessResponse {
                    id,
                    status,
                    document,
                })
            }
        };
        let stream = watch::spawn(scope, deadline, pacing, watch::TimerOnly, read, |state| {
            FINAL_STATUSES.contains(&state.status)
        });
        let (metadata, (), extensions) = response.into_parts();
        Ok(Response::from_parts(metadata, stream, extensions))
    }
}

/// Ends a unary call whose answer carries a document, saying in the
/// response metadata when its content had to be cut (see [`content`]).
fn finish_marking_truncation<T>(
    scope: super::CallScope,
    outcome: Result<(T, Option<Truncation>), FacadeError>,
) -> Result<Response<T>, Status> {
    let truncated = outcome.as_ref().ok().and_then(|(_, truncated)| *truncated);
    let mut response = scope.finish(outcome.map(|(message, _)| message))?;
    if let Some(truncation) = truncated {
        response.metadata_mut().insert(
            TRUNCATED_KEY,
            tonic::metadata::MetadataValue::from_static(truncation.as_str()),
        );
    }
    Ok(response)
}

/// The answer, and whether its document's content had to be cut.
fn to_response(process: DocumentProcess) -> (CreateDocumentProcessResponse, Option<Truncation>) {
    let (id, status, document, truncated) = to_parts(process);
    let response = CreateDocumentProcessResponse {
        id,
        status,
        document,
    };
    (response, truncated)
}

/// The fields every document-process message shares: id, status, document;
/// and whether the document's content had to be cut.
fn to_parts(process: DocumentProcess) -> (String, i32, Option<pb::Document>, Option<Truncation>) {
    let (document, truncated) = match process.document.map(to_document) {
        Some((document, truncated)) => (Some(document), truncated),
        None => (None, None),
    };
    (
        process.id,
        // Proto3 enums are open: an unnamed vendor number travels as is.
        process
            .status
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or(pb::ProcessStatus::Unspecified as i32),
        document,
        truncated,
    )
}

fn to_reusable(document: ReusableDocument) -> pb::ReusableDocument {
    pb::ReusableDocument {
        id: document.id,
        r#type: document_type(&document.type_name) as i32,
        type_name: document.type_name,
    }
}

/// The contract's type for a vendor type name, UNSPECIFIED when unknown.
fn document_type(type_name: &str) -> pb::DocumentType {
    DocumentKind::from_upstream(type_name)
        .map_or(pb::DocumentType::Unspecified, pb::DocumentType::from)
}

fn to_document(document: CapturedDocument) -> (pb::Document, Option<Truncation>) {
    let kind = document_type(&document.type_name);
    let content = content::to_struct(document.content);
    let document = pb::Document {
        id: document.id,
        r#type: kind as i32,
        type_name: document.type_name,
        cpf_match: document.cpf_match,
        face_match: document.face_match,
        content: Some(content.value),
        file_urls: document.file_urls,
    };
    (document, content.truncated)
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    #[test]
    fn unknown_type_and_status_survive() {
        let (response, truncated) = to_response(DocumentProcess {
            id: "p".into(),
            status: Some(7),
            document: Some(CapturedDocument {
                id: "d".into(),
                type_name: "unico.moja.dictionary.br.future.v9.Future".into(),
                cpf_match: None,
                face_match: Some(false),
                content: Map::new(),
                file_urls: vec![],
            }),
        });
        assert_eq!(response.status, 7);
        let document = response.document.unwrap();
        assert_eq!(document.r#type, pb::DocumentType::Unspecified as i32);
        assert_eq!(
            document.type_name,
            "unico.moja.dictionary.br.future.v9.Future"
        );
        assert_eq!(document.cpf_match, None);
        assert_eq!(document.face_match, Some(false));
        assert_eq!(truncated, None);
    }
}
