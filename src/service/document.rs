//! `unico.identity.v1.DocumentService`: document capture and reuse on the ID API.

use prost_types::{ListValue, Struct, Value as PbValue, value::Kind};
use serde_json::{Map, Value};
use tonic::{Request, Response, Status};

use super::{Shared, SharedState, WatchStream, call_upstream, watch};
use crate::{
    domain::{DocumentKind, ProcessId},
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
    ) -> Result<CreateDocumentProcessResponse, FacadeError> {
        let deadline = self.shared.admit(request.metadata(), Api::Id)?;
        let call =
            validation::create_document_process(request.get_ref(), &self.shared.image_limits)?;
        let (upstream, call) = (&self.shared.upstream, &call);
        let process = call_upstream(
            &self.shared,
            request.metadata(),
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
        Ok(to_response(process))
    }

    async fn list(
        &self,
        request: Request<ListReusableDocumentsRequest>,
    ) -> Result<ListReusableDocumentsResponse, FacadeError> {
        let deadline = self.shared.admit(request.metadata(), Api::Id)?;
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
    ) -> Result<GetDocumentProcessResponse, FacadeError> {
        let deadline = self.shared.admit(request.metadata(), Api::Id)?;
        let process_id = validation::document_process_id(&request.get_ref().process_id)?;
        let process = read_process(&self.shared, request.metadata(), &process_id, deadline).await?;
        let (id, status, document) = to_parts(process);
        Ok(GetDocumentProcessResponse {
            id,
            status,
            document,
        })
    }
}

/// One read of a document process, as GetDocumentProcess and each step of
/// WatchDocumentProcess make it.
async fn read_process(
    shared: &Shared,
    metadata: &tonic::metadata::MetadataMap,
    process_id: &ProcessId,
    deadline: tokio::time::Instant,
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
        let scope = self
            .shared
            .begin("CreateDocumentProcess", request.metadata());
        scope.finish(self.create(request).await)
    }

    async fn list_reusable_documents(
        &self,
        request: Request<ListReusableDocumentsRequest>,
    ) -> Result<Response<ListReusableDocumentsResponse>, Status> {
        let scope = self
            .shared
            .begin("ListReusableDocuments", request.metadata());
        scope.finish(self.list(request).await)
    }

    async fn get_document_process(
        &self,
        request: Request<GetDocumentProcessRequest>,
    ) -> Result<Response<GetDocumentProcessResponse>, Status> {
        let scope = self.shared.begin("GetDocumentProcess", request.metadata());
        scope.finish(self.get(request).await)
    }

    type WatchDocumentProcessStream = WatchStream<WatchDocumentProcessResponse>;

    async fn watch_document_process(
        &self,
        request: Request<WatchDocumentProcessRequest>,
    ) -> Result<Response<Self::WatchDocumentProcessStream>, Status> {
        let scope = self
            .shared
            .begin("WatchDocumentProcess", request.metadata());
        let shared = self.shared.clone();
        // Refusals come before the stream starts, as a unary call's would.
        let deadline = shared
            .admit_within(request.metadata(), Api::Id, shared.watch.timeout)
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
                let (id, status, document) = to_parts(process);
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

fn to_response(process: DocumentProcess) -> CreateDocumentProcessResponse {
    let (id, status, document) = to_parts(process);
    CreateDocumentProcessResponse {
        id,
        status,
        document,
    }
}

/// The fields every document-process message shares: id, status, document.
fn to_parts(process: DocumentProcess) -> (String, i32, Option<pb::Document>) {
    (
        process.id,
        // Proto3 enums are open: an unnamed vendor number travels as is.
        process
            .status
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or(pb::ProcessStatus::Unspecified as i32),
        process.document.map(to_document),
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

fn to_document(document: CapturedDocument) -> pb::Document {
    let kind = document_type(&document.type_name);
    pb::Document {
        id: document.id,
        r#type: kind as i32,
        type_name: document.type_name,
        cpf_match: document.cpf_match,
        face_match: document.face_match,
        content: Some(to_struct(document.content)),
        file_urls: document.file_urls,
    }
}

/// JSON object → `google.protobuf.Struct`, every key and nesting kept.
pub(super) fn to_struct(object: Map<String, Value>) -> Struct {
    Struct {
        fields: object.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

fn to_value(value: Value) -> PbValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        // Struct numbers are doubles; integers beyond 2^53 lose precision,
        // as in any protobuf JSON mapping.
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(object) => Kind::StructValue(to_struct(object)),
    };
    PbValue { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_keeps_every_key_and_nesting() {
        let content = json!({
            "numero": "12345678", "filiacao": ["A", "B"], "nested": {"x": 1.5, "ok": true, "none": null}
        });
        let s = to_struct(content.as_object().unwrap().clone());
        assert_eq!(
            s.fields["numero"].kind,
            Some(Kind::StringValue("12345678".into()))
        );
        let Some(Kind::ListValue(list)) = &s.fields["filiacao"].kind else {
            panic!("list")
        };
        assert_eq!(list.values.len(), 2);
        let Some(Kind::StructValue(nested)) = &s.fields["nested"].kind else {
            panic!("struct")
        };
        assert_eq!(nested.fields["x"].kind, Some(Kind::NumberValue(1.5)));
        assert_eq!(nested.fields["ok"].kind, Some(Kind::BoolValue(true)));
        assert_eq!(nested.fields["none"].kind, Some(Kind::NullValue(0)));
    }

    #[test]
    fn unknown_type_and_status_survive() {
        let response = to_response(DocumentProcess {
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
    }
}
