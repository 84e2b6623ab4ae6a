//! berth's own routes file, for APIs without a spec: a list of routes
//! (TOML `[[route]]` tables, or a YAML/JSON `routes:` list), each a method,
//! a path template and a fixed answer. Unknown keys are errors: a typo
//! must not silently serve something else.

use bytes::Bytes;
use serde_json::Value;

use super::{LoadError, Loader, Node};
use crate::servers::http::mock::model::{Api, MediaType, Operation, Response, ResponseHeader, SourceKind, StatusKey};

const KEYS: [&str; 10] =
    ["method", "path", "status", "headers", "body", "body_file", "json", "content_type", "delay", "fail"];

pub(super) fn convert(loader: &mut Loader, root: &Node) -> Result<Api, LoadError> {
    let list = root.field("routes").or_else(|| root.field("route")).expect("the caller checked");
    if !list.get().is_array() {
        return Err(
            loader.error(&list, "the routes must be a list ([[route]] tables in TOML, a 'routes:' list in YAML)")
        );
    }
    let mut api = Api {
        title: root.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "routes".into()),
        source: SourceKind::Routes,
        ..Api::default()
    };
    for route in list.items() {
        api.operations.push(route_operation(loader, &route)?);
    }
    Ok(api)
}

fn route_operation(loader: &mut Loader, route: &Node) -> Result<Operation, LoadError> {
    let Some(object) = route.get().as_object().cloned() else {
        return Err(loader.error(route, "a route must be a table of method, path, status, headers, body ..."));
    };
    for key in object.keys() {
        if !KEYS.contains(&key.as_str()) {
            let mut error = loader
                .error(&route.child(key), &format!("unknown key '{key}' in a route (known: {})", KEYS.join(", ")));
            error.line = error.line.or_else(|| toml_line(loader, route, key));
            return Err(error);
        }
    }
    let text = |loader: &Loader, key: &str| -> Result<Option<String>, LoadError> {
        match object.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(loader.error(&route.child(key), &format!("'{key}' must be a string"))),
        }
    };
    let method = text(loader, "method")?.unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
    let Some(path) = text(loader, "path")? else {
        return Err(loader.error(route, "a route needs a 'path' (\"/users/{id}\")"));
    };
    if !path.starts_with('/') {
        return Err(loader.error(&route.child("path"), &format!("the path '{path}' must start with '/'")));
    }
    let status = match object.get("status") {
        None => 200,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(code @ 100..=599) => code as u16,
            _ => return Err(loader.error(&route.child("status"), "'status' must be a status (100-599)")),
        },
        Some(_) => return Err(loader.error(&route.child("status"), "'status' must be a number (200)")),
    };
    let sources = ["body", "body_file", "json"].iter().filter(|k| object.contains_key(**k)).count();
    if sources > 1 {
        return Err(loader.error(route, "a route has one of body, body_file and json, not several"));
    }
    let body: Option<Bytes> = if let Some(body) = text(loader, "body")? {
        Some(Bytes::from(body.into_bytes()))
    } else if let Some(file) = text(loader, "body_file")? {
        let path = route.file.parent().unwrap_or(std::path::Path::new(".")).join(&file);
        let bytes = std::fs::read(&path).map_err(|e| {
            loader.error(
                &route.child("body_file"),
                &format!("cannot read the body file {}: {}", path.display(), crate::net::error_text(&e)),
            )
        })?;
        if let Ok(canonical) = std::fs::canonicalize(&path) {
            if !loader.files.contains(&canonical) {
                loader.files.push(canonical);
            }
        }
        Some(Bytes::from(bytes))
    } else {
        object.get("json").map(|json| Bytes::from(serde_json::to_vec(json).unwrap_or_default()))
    };
    let content_type = match text(loader, "content_type")? {
        Some(content_type) => content_type,
        None => match &body {
            Some(body) if object.contains_key("json") || serde_json::from_slice::<Value>(body).is_ok() => {
                "application/json".into()
            }
            _ => "text/plain; charset=utf-8".into(),
        },
    };
    let mut headers = Vec::new();
    match object.get("headers") {
        None => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                headers.push(ResponseHeader { name: name.clone(), schema: None, example: Some(Value::String(value)) });
            }
        }
        Some(_) => return Err(loader.error(&route.child("headers"), "'headers' must be a table of names and values")),
    }
    let content = match body {
        Some(literal) => vec![MediaType {
            media_type: content_type,
            schema: None,
            example: None,
            examples: vec![],
            literal: Some(literal),
        }],
        None => Vec::new(),
    };
    let fail = match object.get("fail") {
        None => Vec::new(),
        Some(Value::String(rule)) => vec![rule.clone()],
        Some(Value::Array(rules)) if rules.iter().all(Value::is_string) => {
            rules.iter().filter_map(Value::as_str).map(str::to_string).collect()
        }
        Some(_) => return Err(loader.error(&route.child("fail"), "'fail' must be a string or a list of strings")),
    };
    Ok(Operation {
        method: if method == "ANY" { "*".into() } else { method },
        path,
        operation_id: None,
        parameters: Vec::new(),
        request_body: None,
        responses: vec![Response { status: StatusKey::Exact(status), headers, content }],
        security: Vec::new(),
        delay: text(loader, "delay")?,
        fail,
        location: loader.location(route),
    })
}

/// In a TOML file (whose lines the YAML walk cannot find): the line of
/// `key =` within the route's `[[route]]` table.
fn toml_line(loader: &Loader, route: &Node, key: &str) -> Option<u32> {
    let text = loader.text(&route.file)?;
    let index: usize = route.pointer.rsplit('/').next()?.parse().ok()?;
    let mut tables = 0;
    let mut inside = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("[[route]]") {
            inside = tables == index;
            tables += 1;
            continue;
        }
        if inside && trimmed.split('=').next().map(|k| k.trim().trim_matches('"')) == Some(key) && trimmed.contains('=')
        {
            return Some(number as u32 + 1);
        }
    }
    None
}
