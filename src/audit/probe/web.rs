//! What the web no-authentication checks ([`crate::audit::noauth::web`])
//! ask an HTTP service: `GET`s of well-known read-only API paths with the
//! loopback Host header — `/version` (the Docker Engine API), `/api/kernels`
//! (Jupyter), `/api/tags` (Ollama), `/metrics` (Prometheus) — and `/api`
//! when `/api/kernels` answered a kernel list, since a JSON array alone
//! could be any API and Jupyter's `/api` names its version.
//! Elasticsearch is told by the baseline `GET /`, which costs nothing more.
//!
//! The four GETs run at the same time, so one service costs about one
//! round trip more, and each may use at most half the time left for the
//! service ([`Service::fetch`]), so a service that hangs on them leaves
//! time for the other questions.

use serde_json::Value;

use super::service::Service;
use crate::net::http_client::Response;

/// The paths asked at once, besides the baseline `GET /`.
const PATHS: [&str; 4] = ["/version", "/api/kernels", "/api/tags", "/metrics"];

/// The answers of the well-known API paths (None: no HTTP answer).
#[derive(Clone, Debug, Default)]
pub struct Apis {
    /// `GET /version`.
    pub version: Option<Response>,
    /// `GET /api/kernels`.
    pub kernels: Option<Response>,
    /// `GET /api/tags`.
    pub tags: Option<Response>,
    /// `GET /metrics`.
    pub metrics: Option<Response>,
    /// `GET /api`, asked only when `/api/kernels` answered a [`kernel_list`].
    pub api: Option<Response>,
}

/// Asks the paths above.
pub fn ask(service: &Service) -> Apis {
    let [version, kernels, tags, metrics] = std::thread::scope(|scope| {
        let handles = PATHS.map(|path| scope.spawn(move || service.get(path).ok()));
        handles.map(|h| h.join().ok().flatten())
    });
    let api = kernels.as_ref().and_then(kernel_list).and_then(|_| service.get("/api").ok());
    Apis { version, kernels, tags, metrics, api }
}

/// The body as JSON, when the answer is a whole 200.
pub fn json_ok(response: &Response) -> Option<Value> {
    if response.head.status != 200 || response.truncated {
        return None;
    }
    serde_json::from_slice(&response.body).ok()
}

/// Jupyter's `GET /api/kernels`: a 200 with an array of kernels (objects
/// with a string `id` and `name`; maybe none).
pub fn kernel_list(response: &Response) -> Option<Vec<Value>> {
    let Value::Array(kernels) = json_ok(response)? else { return None };
    let kernel_like =
        |k: &Value| k.get("id").is_some_and(Value::is_string) && k.get("name").is_some_and(Value::is_string);
    kernels.iter().all(kernel_like).then_some(kernels)
}
