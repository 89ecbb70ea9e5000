//! The vendor's REST APIs as a typed client: hosts per environment, the
//! credentials to send, one function per endpoint, and failures classified by
//! phase. Nothing here knows about gRPC; `crate::status` maps the errors.

mod body;
mod client;
mod create_document_process;
mod credentials;
mod endpoint;
mod error;
pub mod error_body;
mod get_document_process;
mod hosts;
mod journey_process;
mod list_reusable_documents;
mod set_process_document;
mod streamed_body;
mod success_body;
mod token;

pub use client::{ClientBuildError, UpstreamClient, UpstreamSettings};
pub use create_document_process::{
    Capture, CapturedDocument, CreateDocumentProcess, DocumentProcess, Subject, encode_body,
    parse_reply as parse_create_document_process_reply,
};
pub use credentials::{CredentialsFormatError, UpstreamCredentials};
pub use endpoint::{Api, Endpoint};
pub use error::{TransportError, UpstreamError, VendorCode, VendorError};
pub use hosts::{Environment, HostsError, UpstreamHosts};
pub use journey_process::{AuthenticationResults, CreateProcess, JourneyProcess, JourneySubject};
pub use list_reusable_documents::{ListReusableDocuments, ReusableDocument};
pub use set_process_document::{
    DocumentOnProcess, ProcessWithDocument, SetProcessDocument,
    parse_reply as parse_set_process_document_reply,
};
pub use token::{AccessToken, TokenError};
