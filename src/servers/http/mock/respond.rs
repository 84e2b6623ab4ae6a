//! Choosing and rendering an operation's answer: which documented status
//! (`Prefer: code=`, else the first 2xx), which media type (Accept), which
//! body (a routes file's literal; a named example with `Prefer: example=`;
//! the spec's example; else a value generated from the schema), and the
//! response headers the spec documents.

use bytes::Bytes;
use serde_json::Value;

use super::model::{Api, MediaType, Operation, Response, StatusKey};
use super::schema::generate::{generate, static_value, Direction};

/// How a body is made for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Examples where the spec has them; values generated from the schema
    /// elsewhere.
    Examples,
    /// Generated from the schema even where there are examples
    /// (`--dynamic`, `Prefer: dynamic=true`).
    Dynamic,
}

/// An answer ready to write.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub status: u16,
    /// None: no body (and no Content-Type).
    pub content_type: Option<String>,
    pub body: Bytes,
    /// "Name: value\r\n" lines from the spec's response headers.
    pub headers: Vec<u8>,
    /// What was chosen, for the journal and the log ("example:cat").
    pub chosen: String,
}

/// Why no answer could be chosen: the client asked for what the spec does
/// not have. Each becomes a problem answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unanswerable {
    /// `Prefer: code=N` that the operation does not document.
    NoSuchCode { asked: u16, documented: Vec<String> },
    /// `Prefer: example=NAME` with no such example.
    NoSuchExample { asked: String, available: Vec<String> },
    /// Accept matches none of the documented media types.
    NotAcceptable { documented: Vec<String> },
}

/// The response a request gets when it asks for no code: the first
/// documented 2xx (exact codes before 2XX), else `default` as 200, else
/// the first response.
pub fn default_response(operation: &Operation) -> Option<(&Response, u16)> {
    let responses = &operation.responses;
    let exact = responses
        .iter()
        .filter_map(|r| match r.status {
            StatusKey::Exact(code) if (200..300).contains(&code) => Some((r, code)),
            _ => None,
        })
        .min_by_key(|(_, code)| *code);
    exact
        .or_else(|| responses.iter().find(|r| r.status == StatusKey::Range(2)).map(|r| (r, 200)))
        .or_else(|| responses.iter().find(|r| r.status == StatusKey::Default).map(|r| (r, 200)))
        .or_else(|| {
            responses.first().map(|r| {
                let code = match r.status {
                    StatusKey::Exact(code) => code,
                    StatusKey::Range(hundreds) => hundreds * 100,
                    StatusKey::Default => 200,
                };
                (r, code)
            })
        })
}

/// The response documented for `code`: exact, then its range, then default.
pub fn response_for(operation: &Operation, code: u16) -> Option<&Response> {
    let responses = &operation.responses;
    responses
        .iter()
        .find(|r| r.status == StatusKey::Exact(code))
        .or_else(|| responses.iter().find(|r| r.status == StatusKey::Range(code / 100)))
        .or_else(|| responses.iter().find(|r| r.status == StatusKey::Default))
}

/// The documented statuses, as written ("200", "4XX", "default").
pub fn documented_codes(operation: &Operation) -> Vec<String> {
    operation
        .responses
        .iter()
        .map(|r| match r.status {
            StatusKey::Exact(code) => code.to_string(),
            StatusKey::Range(hundreds) => format!("{hundreds}XX"),
            StatusKey::Default => "default".into(),
        })
        .collect()
}

/// The answer to one request for `operation`.
pub struct Choice<'a> {
    pub code: Option<u16>,
    pub example: Option<&'a str>,
    pub mode: Mode,
    pub accept: Option<&'a [u8]>,
}

pub fn render(
    api: &Api,
    operation: &Operation,
    choice: &Choice<'_>,
    rng: &mut impl rand::Rng,
) -> Result<Rendered, Unanswerable> {
    let (response, status) = match choice.code {
        Some(code) => match response_for(operation, code) {
            Some(response) => (response, code),
            None => {
                return Err(Unanswerable::NoSuchCode { asked: code, documented: documented_codes(operation) });
            }
        },
        None => match default_response(operation) {
            Some(found) => found,
            None => {
                return Ok(Rendered {
                    status: 200,
                    content_type: None,
                    body: Bytes::new(),
                    headers: Vec::new(),
                    chosen: "empty".into(),
                })
            }
        },
    };
    let headers = response_headers(api, response, choice.mode, rng);
    if response.content.is_empty() || matches!(status, 204 | 304) {
        return Ok(Rendered { status, content_type: None, body: Bytes::new(), headers, chosen: "empty".into() });
    }
    let Some(media) = negotiate(&response.content, choice.accept) else {
        return Err(Unanswerable::NotAcceptable {
            documented: response.content.iter().map(|m| m.media_type.clone()).collect(),
        });
    };
    let content_type = concrete_type(&media.media_type, choice.accept);
    if let Some(literal) = &media.literal {
        return Ok(Rendered {
            status,
            content_type: Some(content_type),
            body: literal.clone(),
            headers,
            chosen: "literal".into(),
        });
    }
    let (value, chosen) = match choice.example {
        Some(name) => match media.examples.iter().find(|(n, _)| n == name) {
            Some((_, value)) => (Some(value.clone()), format!("example:{name}")),
            None => {
                return Err(Unanswerable::NoSuchExample {
                    asked: name.to_string(),
                    available: media.examples.iter().map(|(n, _)| n.clone()).collect(),
                })
            }
        },
        None => body_value(api, media, choice.mode, rng),
    };
    let body = match value {
        Some(value) => encode(&value, &content_type),
        None => Bytes::new(),
    };
    Ok(Rendered { status, content_type: Some(content_type), body, headers, chosen })
}

/// The value of a body without a named example: the spec's example in
/// [`Mode::Examples`], else one generated from the schema; None when the
/// media type has neither.
fn body_value(api: &Api, media: &MediaType, mode: Mode, rng: &mut impl rand::Rng) -> (Option<Value>, String) {
    if mode == Mode::Examples {
        if let Some(example) = &media.example {
            return (Some(example.clone()), "example".into());
        }
        if let Some((name, value)) = media.examples.first() {
            return (Some(value.clone()), format!("example:{name}"));
        }
        if let Some(schema) = media.schema {
            let node = api.schemas.get(schema);
            if node.example.is_some() {
                return (Some(static_value(&api.schemas, schema, Direction::Response)), "example".into());
            }
        }
    }
    match media.schema {
        Some(schema) => (Some(generate(&api.schemas, schema, rng, Direction::Response)), "generated".into()),
        None => (None, "empty".into()),
    }
}

/// The bytes of a body: a string as it is for text and other non-JSON
/// types, JSON text otherwise.
pub fn encode(value: &Value, content_type: &str) -> Bytes {
    match value {
        Value::String(text) if !is_json(content_type) => Bytes::from(text.clone().into_bytes()),
        _ => Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    }
}

/// application/json, application/problem+json, ...+json, and the
/// wildcards (berth answers JSON for those).
pub fn is_json(media_type: &str) -> bool {
    let base = base_type(media_type);
    base == "application/json" || base.ends_with("+json") || base.contains('*')
}

fn base_type(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The documented media type the client takes best (Accept's q-values,
/// a concrete match before a wildcard one, spec order on a tie); with no
/// Accept, the first documented one.
pub fn negotiate<'m>(content: &'m [MediaType], accept: Option<&[u8]>) -> Option<&'m MediaType> {
    let Some(accept) = accept.and_then(|a| std::str::from_utf8(a).ok()).filter(|a| !a.trim().is_empty()) else {
        return content.first();
    };
    let ranges = accept_ranges(accept);
    let mut best: Option<(f32, u8, &MediaType)> = None;
    for media in content {
        let Some((q, specificity)) = acceptance(&ranges, &base_type(&media.media_type)) else { continue };
        if q > 0.0 && best.is_none_or(|(bq, bs, _)| (q, specificity) > (bq, bs)) {
            best = Some((q, specificity, media));
        }
    }
    best.map(|(_, _, media)| media)
}

/// Accept's media ranges with their q-values.
fn accept_ranges(accept: &str) -> Vec<(String, f32)> {
    accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim().to_ascii_lowercase();
            if range.is_empty() {
                return None;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((range, q))
        })
        .collect()
}

/// How well a documented type (itself maybe a wildcard) is accepted: the
/// q of the most specific range that matches it, and that specificity.
fn acceptance(ranges: &[(String, f32)], documented: &str) -> Option<(f32, u8)> {
    let (doc_type, doc_sub) = documented.split_once('/').unwrap_or((documented, "*"));
    ranges
        .iter()
        .filter_map(|(range, q)| {
            let (r_type, r_sub) = range.split_once('/').unwrap_or((range, "*"));
            let type_ok = r_type == "*" || doc_type == "*" || r_type == doc_type;
            let sub_ok = r_sub == "*" || doc_sub == "*" || r_sub == doc_sub;
            (type_ok && sub_ok).then_some((*q, u8::from(r_type != "*") + u8::from(r_sub != "*")))
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(a.0.total_cmp(&b.0)))
}

/// The Content-Type to send for a documented type: itself when concrete;
/// for a wildcard, the first concrete type the client asked for that it
/// covers, else application/json.
fn concrete_type(documented: &str, accept: Option<&[u8]>) -> String {
    if !documented.contains('*') {
        return documented.to_string();
    }
    let (doc_type, _) = documented.split_once('/').unwrap_or(("*", "*"));
    let asked = accept.and_then(|a| std::str::from_utf8(a).ok()).map(accept_ranges).unwrap_or_default();
    asked
        .into_iter()
        .map(|(range, _)| range)
        .find(|range| !range.contains('*') && (doc_type == "*" || range.starts_with(&format!("{doc_type}/"))))
        .unwrap_or_else(|| "application/json".into())
}

/// The documented response headers, each with its example, else a value
/// from its schema; values with control characters are left out (they
/// would break the head). Content-Type, Content-Length and framing
/// headers are berth's to set.
fn response_headers(api: &Api, response: &Response, mode: Mode, rng: &mut impl rand::Rng) -> Vec<u8> {
    let mut lines = Vec::new();
    for header in &response.headers {
        let name = header.name.as_str();
        if ["content-type", "content-length", "transfer-encoding", "connection", "date"]
            .iter()
            .any(|reserved| name.eq_ignore_ascii_case(reserved))
            || name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            continue;
        }
        let value = match (&header.example, header.schema, mode) {
            (Some(example), _, Mode::Examples) | (Some(example), None, _) => example.clone(),
            (_, Some(schema), Mode::Dynamic) => generate(&api.schemas, schema, rng, Direction::Response),
            (_, Some(schema), Mode::Examples) => static_value(&api.schemas, schema, Direction::Response),
            (None, None, _) => continue,
        };
        let text = header_text(&value);
        if text.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            continue;
        }
        lines.extend_from_slice(name.as_bytes());
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(text.as_bytes());
        lines.extend_from_slice(b"\r\n");
    }
    lines
}

/// A header value in OpenAPI's simple style: scalars as text, arrays and
/// objects comma-separated.
fn header_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(header_text).collect::<Vec<_>>().join(","),
        Value::Object(map) => map.iter().flat_map(|(k, v)| [k.clone(), header_text(v)]).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(types: &[&str]) -> Vec<MediaType> {
        types
            .iter()
            .map(|t| MediaType {
                media_type: t.to_string(),
                schema: None,
                example: None,
                examples: vec![],
                literal: None,
            })
            .collect()
    }

    #[test]
    fn accept_picks_the_best_documented_type() {
        let content = media(&["application/json", "application/xml", "text/plain"]);
        let pick = |accept: Option<&str>| negotiate(&content, accept.map(str::as_bytes)).map(|m| m.media_type.clone());
        assert_eq!(pick(None).as_deref(), Some("application/json"));
        assert_eq!(pick(Some("text/plain")).as_deref(), Some("text/plain"));
        assert_eq!(pick(Some("application/xml;q=0.9, text/plain;q=0.5")).as_deref(), Some("application/xml"));
        assert_eq!(pick(Some("text/*")).as_deref(), Some("text/plain"));
        assert_eq!(pick(Some("*/*")).as_deref(), Some("application/json"));
        assert_eq!(pick(Some("image/png")), None);
        assert_eq!(pick(Some("application/json;q=0, text/plain")).as_deref(), Some("text/plain"));
        let wild = media(&["*/*"]);
        assert_eq!(concrete_type(&wild[0].media_type, Some(b"text/csv")), "text/csv");
        assert_eq!(concrete_type("application/*", None), "application/json");
    }

    #[test]
    fn header_values_are_written_in_simple_style() {
        assert_eq!(header_text(&serde_json::json!("a")), "a");
        assert_eq!(header_text(&serde_json::json!(5)), "5");
        assert_eq!(header_text(&serde_json::json!([1, "b"])), "1,b");
        assert_eq!(header_text(&serde_json::json!({"x": 1})), "x,1");
        assert!(is_json("application/problem+json; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert_eq!(&encode(&serde_json::json!("hi"), "text/plain")[..], b"hi");
        assert_eq!(&encode(&serde_json::json!("hi"), "application/json")[..], b"\"hi\"");
    }
}
