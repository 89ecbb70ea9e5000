//! What the facade calls: the vendor's two API families and each endpoint's
//! method and route template (a bounded telemetry label, never the URL).

use http::Method;

/// The vendor's two API families, which have different error vocabularies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// IDCloud client API (`api.idcloud.*`): gRPC-style codes (3, 5, 9…).
    IdCloud,
    /// ID API (`api.id.*`): five-digit vendor codes (20068…).
    Id,
}

/// The upstream endpoints whose answers the status table maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    SetProcessDocument,
    CreateDocumentProcess,
    ListReusableDocuments,
    GetDocumentProcess,
    CreateProcess,
    GetProcess,
}

impl Endpoint {
    /// Every endpoint, for tables and tests.
    pub const ALL: [Endpoint; 6] = [
        Endpoint::SetProcessDocument,
        Endpoint::CreateDocumentProcess,
        Endpoint::ListReusableDocuments,
        Endpoint::GetDocumentProcess,
        Endpoint::CreateProcess,
        Endpoint::GetProcess,
    ];

    pub fn api(self) -> Api {
        match self {
            Endpoint::SetProcessDocument | Endpoint::CreateProcess | Endpoint::GetProcess => {
                Api::IdCloud
            }
            Endpoint::CreateDocumentProcess
            | Endpoint::ListReusableDocuments
            | Endpoint::GetDocumentProcess => Api::Id,
        }
    }

    /// Method and route template: a bounded label for telemetry, never the
    /// raw URL (which holds the process id).
    pub fn route(self) -> &'static str {
        self.call_route().label
    }

    /// The path template alone (`http.route`).
    pub fn path_template(self) -> &'static str {
        self.call_route().template
    }

    pub(crate) fn call_route(self) -> CallRoute {
        match self {
            Endpoint::SetProcessDocument => CallRoute::post(
                "POST /client/v1/process/{processId}/document",
                "/client/v1/process/{processId}/document",
            ),
            Endpoint::CreateDocumentProcess => {
                CallRoute::post("POST /processes/v1", "/processes/v1")
            }
            Endpoint::ListReusableDocuments => CallRoute::get("GET /documents/v1", "/documents/v1"),
            Endpoint::GetDocumentProcess => {
                CallRoute::get("GET /processes/v1/{processId}", "/processes/v1/{processId}")
            }
            Endpoint::CreateProcess => {
                CallRoute::post("POST /client/v1/process", "/client/v1/process")
            }
            Endpoint::GetProcess => CallRoute::get(
                "GET /client/v1/process/{processId}",
                "/client/v1/process/{processId}",
            ),
        }
    }
}

/// How one HTTP exchange is named in its client span: every call the
/// upstream client makes, the token request included, has one.
#[derive(Debug, Clone)]
pub(crate) struct CallRoute {
    pub method: Method,
    /// `METHOD template`, the span's name.
    pub label: &'static str,
    /// The path template (`http.route`).
    pub template: &'static str,
}

impl CallRoute {
    pub(crate) const fn get(label: &'static str, template: &'static str) -> Self {
        Self {
            method: Method::GET,
            label,
            template,
        }
    }

    pub(crate) const fn post(label: &'static str, template: &'static str) -> Self {
        Self {
            method: Method::POST,
            label,
            template,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_method_and_the_template() {
        for endpoint in Endpoint::ALL {
            let route = endpoint.call_route();
            assert_eq!(route.label, format!("{} {}", route.method, route.template));
        }
    }
}
