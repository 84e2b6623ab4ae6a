//! The HTTP services that answer without authentication, found by what
//! they answer rather than by their port (a Jupyter on 8000 is still
//! Jupyter):
//! - `noauth.docker-api`: `GET /version` with `ApiVersion` and `Os` or
//!   `KernelVersion` — the Docker Engine (or Podman) API, which is root on
//!   the host for anyone who can call it;
//! - `noauth.elasticsearch`: `GET /` (the probe's baseline, no extra
//!   request) with `cluster_name` and `version.number` — Elasticsearch or
//!   OpenSearch with security off;
//! - `noauth.jupyter`: `GET /api/kernels` answering 200 with a JSON array
//!   (with a token Jupyter answers 403), confirmed by `GET /api` naming a
//!   version — code execution as the notebook's user;
//! - `noauth.ollama`: `GET /api/tags` with a `models` list;
//! - `noauth.metrics`: `GET /metrics` in Prometheus text exposition
//!   (`# HELP` and `# TYPE` lines).
//!
//! The questions are in [`crate::audit::probe::web`].

use crate::analysis::plural;
use serde_json::Value;

use super::{exposure, finding, severity, who_can};
use crate::audit::probe::web::{json_ok, kernel_list};
use crate::audit::probe::Service;
use crate::audit::{clip, Check, CheckInfo, Facts, Finding, Machine, Severity};
use crate::net::http_client::Response;

/// `noauth.elasticsearch`, `noauth.docker-api`, `noauth.jupyter`,
/// `noauth.ollama` and `noauth.metrics`: one set of questions, told apart
/// by the answers.
pub struct WebApis;

impl Check for WebApis {
    fn ids(&self) -> &'static [CheckInfo] {
        &[
            CheckInfo {
                id: "noauth.elasticsearch",
                summary: "Elasticsearch or OpenSearch answers without authentication",
                default_severity: Severity::Medium,
            },
            CheckInfo {
                id: "noauth.docker-api",
                summary: "the Docker Engine API answers over TCP without authentication (root on the host)",
                default_severity: Severity::High,
            },
            CheckInfo {
                id: "noauth.jupyter",
                summary: "a Jupyter server's API answers without a token",
                default_severity: Severity::High,
            },
            CheckInfo {
                id: "noauth.ollama",
                summary: "an Ollama model server answers without authentication",
                default_severity: Severity::Medium,
            },
            CheckInfo {
                id: "noauth.metrics",
                summary: "Prometheus-style /metrics are served without authentication",
                default_severity: Severity::Low,
            },
        ]
    }

    fn judge_service(&self, service: &Service, machine: &Machine) -> Vec<Finding> {
        findings(service, machine.facts)
    }
}

/// Every web no-authentication finding of one HTTP service.
fn findings(service: &Service, facts: &Facts) -> Vec<Finding> {
    let Some(apis) = &service.answers.web else { return Vec::new() };
    let (reach, reach_line) = exposure(service, facts);
    let mut findings = Vec::new();
    let mut push = |id: &'static str, levels, title: &str, mut evidence: Vec<String>, fix: &str| {
        evidence.push(reach_line.clone());
        let level = severity(&reach, levels);
        let title = format!("{title} {}", who_can(&reach));
        findings.push(finding(id, level, title, service, evidence, fix));
    };
    if let Some(evidence) = apis.version.as_ref().and_then(docker) {
        push(
            "noauth.docker-api",
            (Severity::Critical, Severity::High, Severity::High),
            "The Docker Engine API answers without authentication (root on this host)",
            evidence,
            "remove -H tcp://... from dockerd (use the unix socket), or serve it only with TLS on 2376 and client certificates (--tlsverify)",
        );
    }
    if let Some(evidence) = service.baseline.as_ref().and_then(elasticsearch) {
        push(
            "noauth.elasticsearch",
            (Severity::Critical, Severity::High, Severity::Medium),
            "Elasticsearch/OpenSearch answers without authentication",
            evidence,
            "enable security (xpack.security.enabled: true, or the OpenSearch security plugin) and set network.host: 127.0.0.1",
        );
    }
    if let Some(mut evidence) = apis.kernels.as_ref().and_then(jupyter_kernels) {
        // A JSON array alone could be any API: Jupyter's /api names its version.
        if let Some(version) = apis.api.as_ref().and_then(jupyter_version) {
            evidence.push(version);
            push(
                "noauth.jupyter",
                (Severity::Critical, Severity::High, Severity::High),
                "A Jupyter server runs code for anyone without a token",
                evidence,
                "run Jupyter with a token or password (never --IdentityProvider.token='' / --NotebookApp.token=''), bound to 127.0.0.1 (--ip=127.0.0.1)",
            );
        }
    }
    if let Some(mut evidence) = apis.tags.as_ref().and_then(ollama) {
        if let Some(base) = &service.baseline {
            if base.body_text().trim() == "Ollama is running" {
                evidence.push("GET / answered 'Ollama is running'".into());
            }
        }
        push(
            "noauth.ollama",
            (Severity::High, Severity::Medium, Severity::Medium),
            "An Ollama model server answers without authentication",
            evidence,
            "set OLLAMA_HOST=127.0.0.1 (systemctl edit ollama) and put an authenticating proxy in front if others need it",
        );
    }
    if let Some(evidence) = apis.metrics.as_ref().and_then(metrics) {
        push(
            "noauth.metrics",
            (Severity::Medium, Severity::Low, Severity::Low),
            "Prometheus metrics are served without authentication",
            evidence,
            "bind the exporter to 127.0.0.1 (--web.listen-address=127.0.0.1:PORT) or require basic auth/TLS (--web.config.file)",
        );
    }
    findings
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(|s| clip(s, 60))
}

/// Docker Engine API `GET /version`: evidence when it is one.
pub fn docker(response: &Response) -> Option<Vec<String>> {
    let json = json_ok(response)?;
    let api = text(&json, "ApiVersion")?;
    let os = text(&json, "Os");
    let kernel = text(&json, "KernelVersion");
    if os.is_none() && kernel.is_none() {
        return None;
    }
    let mut line = format!("GET /version answered 200 without credentials: ApiVersion {api}");
    if let Some(version) = text(&json, "Version") {
        line.push_str(&format!(", Version {version}"));
    }
    if let Some(os) = os {
        line.push_str(&format!(", Os {os}"));
    }
    if let Some(kernel) = kernel {
        line.push_str(&format!(", KernelVersion {kernel}"));
    }
    let mut evidence = vec![line];
    if let Some(server) = response.header("server") {
        evidence.push(format!("Server: {}", clip(server, 60)));
    }
    Some(evidence)
}

/// Elasticsearch or OpenSearch `GET /`: evidence when it is one.
pub fn elasticsearch(response: &Response) -> Option<Vec<String>> {
    let json = json_ok(response)?;
    let cluster = text(&json, "cluster_name")?;
    let version = json.get("version")?;
    let number = text(version, "number")?;
    let distribution = text(version, "distribution");
    let tagline = text(&json, "tagline");
    let product = match (&distribution, &tagline) {
        (Some(d), _) if d.eq_ignore_ascii_case("opensearch") => "OpenSearch",
        (_, Some(t)) if t.contains("OpenSearch") => "OpenSearch",
        (_, Some(t)) if t.contains("You Know, for Search") => "Elasticsearch",
        _ => "an Elasticsearch-compatible server",
    };
    let mut evidence = vec![format!(
        "GET / answered 200 without credentials: {product}, cluster_name \"{cluster}\", version.number \"{number}\""
    )];
    if let Some(tagline) = tagline {
        evidence.push(format!("tagline \"{tagline}\""));
    }
    Some(evidence)
}

/// Jupyter `GET /api/kernels`: 200 with an array of kernels (maybe empty).
pub fn jupyter_kernels(response: &Response) -> Option<Vec<String>> {
    let kernels = kernel_list(response)?;
    let names: Vec<String> = kernels.iter().take(5).filter_map(|k| text(k, "name")).collect();
    let mut line = format!(
        "GET /api/kernels answered 200 without a token: {}",
        plural(kernels.len(), "running kernel", "running kernels")
    );
    if !names.is_empty() {
        line.push_str(&format!(" ({})", names.join(", ")));
    }
    Some(vec![line])
}

/// Jupyter `GET /api`: `{"version": "..."}`.
pub fn jupyter_version(response: &Response) -> Option<String> {
    let json = json_ok(response)?;
    let version = text(&json, "version")?;
    let object = json.as_object()?;
    (object.len() <= 3).then(|| format!("GET /api answered {{\"version\": \"{version}\"}} (Jupyter Server)"))
}

/// Ollama `GET /api/tags`: `{"models": [...]}`.
pub fn ollama(response: &Response) -> Option<Vec<String>> {
    let json = json_ok(response)?;
    let models = json.get("models")?.as_array()?;
    if !models.iter().all(|m| m.get("name").is_some_and(Value::is_string) || m.get("model").is_some()) {
        return None;
    }
    let names: Vec<String> =
        models.iter().take(5).filter_map(|m| text(m, "name").or_else(|| text(m, "model"))).collect();
    let mut line =
        format!("GET /api/tags answered 200 without credentials: {}", plural(models.len(), "model", "models"));
    if !names.is_empty() {
        line.push_str(&format!(" ({})", names.join(", ")));
    }
    Some(vec![line])
}

/// `GET /metrics` in Prometheus (or OpenMetrics) text exposition.
pub fn metrics(response: &Response) -> Option<Vec<String>> {
    if response.head.status != 200 {
        return None;
    }
    let body = response.body_text();
    let mut help = None;
    let mut families = 0usize;
    let mut typed = false;
    for line in body.lines().take(20_000) {
        if line.starts_with("# HELP ") {
            families += 1;
            help.get_or_insert_with(|| clip(line, 100));
        } else if line.starts_with("# TYPE ") {
            typed = true;
        }
    }
    let help = help.filter(|_| typed)?;
    let kind = response.header("content-type").map(|c| clip(c, 60)).unwrap_or_else(|| "no Content-Type".into());
    let more = if response.truncated { "+" } else { "" };
    Some(vec![
        format!("GET /metrics answered 200 without credentials: {families}{more} metric families ({kind})"),
        format!("first line of help: {help}"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::http_client::Head;

    fn response(status: u16, body: &str) -> Response {
        Response {
            head: Head { status, reason: String::new(), headers: Vec::new() },
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn docker_version_is_recognised() {
        let body = r#"{"Version":"24.0.7","ApiVersion":"1.43","Os":"linux","KernelVersion":"6.1.0"}"#;
        assert!(docker(&response(200, body)).is_some());
        assert!(docker(&response(403, r#"{"message":"authorization denied by plugin x"}"#)).is_none());
        assert!(docker(&response(200, r#"{"ApiVersion":"1.43"}"#)).is_none());
    }

    #[test]
    fn elasticsearch_root_is_recognised() {
        let body = r#"{"cluster_name":"c","version":{"number":"8.11.1"},"tagline":"You Know, for Search"}"#;
        let evidence = elasticsearch(&response(200, body)).unwrap_or_default();
        assert!(evidence[0].contains("Elasticsearch"), "{evidence:?}");
        let open_search = r#"{"cluster_name":"c","version":{"distribution":"opensearch","number":"2.11.0"}}"#;
        assert!(elasticsearch(&response(200, open_search)).unwrap_or_default()[0].contains("OpenSearch"));
        assert!(elasticsearch(&response(401, r#"{"status":401}"#)).is_none());
    }

    #[test]
    fn jupyter_ollama_and_metrics_are_recognised() {
        assert!(jupyter_kernels(&response(200, "[]")).is_some());
        assert!(jupyter_kernels(&response(200, r#"[{"id":"a","name":"python3"}]"#)).is_some());
        assert!(jupyter_kernels(&response(200, "[1, 2]")).is_none());
        assert!(jupyter_kernels(&response(403, r#"{"message":"Forbidden","reason":null}"#)).is_none());
        assert!(jupyter_version(&response(200, r#"{"version":"2.14.2"}"#)).is_some());
        assert!(ollama(&response(200, r#"{"models":[{"name":"llama3:latest"}]}"#)).is_some());
        assert!(ollama(&response(200, r#"{"items":[]}"#)).is_none());
        let exposition = "# HELP up Whether up.\n# TYPE up gauge\nup 1\n";
        assert!(metrics(&response(200, exposition)).is_some());
        assert!(metrics(&response(401, exposition)).is_none());
        assert!(metrics(&response(200, "<html>metrics</html>")).is_none());
    }
}
