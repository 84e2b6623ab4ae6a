//! Checking a request against its operation: the security it requires,
//! then its parameters (path, query, header, cookie), then its body (JSON,
//! form-encoded or text), each failing part named by a JSON pointer into
//! the request seen as `{path, query, header, cookie, body}`:
//! `/query/limit`, `/header/X-Request-Id`, `/body/pets/0/name`.

use serde_json::Value;

use super::journal::Problem;
use super::model::{pointer_token, Api, Operation, ParameterIn, RequestBody, SecurityKind};
use super::schema::generate::Direction;
use super::schema::params;
use super::schema::validate::{validate, Failure};

/// Why a request is refused, with its status.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// 401 (security), 400 (parameters, malformed bodies), 415 (a body of
    /// an undocumented type), 422 (a body that does not match its schema).
    pub status: u16,
    pub problems: Vec<Problem>,
    /// For a 401: the WWW-Authenticate challenge.
    pub challenge: Option<String>,
}

/// The parts of a request the checks read.
pub struct Parts<'a> {
    pub path_params: &'a [(String, String)],
    pub query: Option<&'a str>,
    /// Every header, in order.
    pub headers: &'a [(&'a str, &'a [u8])],
    pub body: &'a [u8],
}

impl Parts<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    fn cookies(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }
}

/// Security only: whether one of the operation's alternatives is met.
pub fn security(api: &Api, operation: &Operation, parts: &Parts<'_>) -> Result<(), Refused> {
    if operation.security.is_empty() {
        return Ok(());
    }
    let query = query_pairs(parts.query);
    let cookies = parts.cookies();
    let met = |index: &usize| match api.security_schemes.get(*index).map(|s| &s.kind) {
        None | Some(SecurityKind::Unchecked) => true,
        Some(SecurityKind::ApiKey { place, name }) => match place {
            ParameterIn::Header => parts.header(name).is_some_and(|v| !v.is_empty()),
            ParameterIn::Query => query.iter().any(|(k, v)| k == name && !v.is_empty()),
            ParameterIn::Cookie => cookies.iter().any(|(k, v)| k == name && !v.is_empty()),
            ParameterIn::Path => true,
        },
        Some(SecurityKind::Http { scheme }) => authorization_has(parts, scheme),
        Some(SecurityKind::BearerToken) => authorization_has(parts, "bearer"),
    };
    if operation.security.iter().any(|alternative| alternative.iter().all(met)) {
        return Ok(());
    }
    // What the first alternative wants, as the problem to report.
    let mut problems = Vec::new();
    let mut challenge = None;
    for index in &operation.security[0] {
        let Some(scheme) = api.security_schemes.get(*index) else { continue };
        if met(index) {
            continue;
        }
        let (pointer, detail) = match &scheme.kind {
            SecurityKind::ApiKey { place, name } => {
                let place = match place {
                    ParameterIn::Header => "header",
                    ParameterIn::Query => "query",
                    ParameterIn::Cookie => "cookie",
                    ParameterIn::Path => "path",
                };
                (format!("/{place}/{}", pointer_token(name)), format!("is required (API key '{}')", scheme.name))
            }
            SecurityKind::Http { scheme: http } => {
                challenge.get_or_insert_with(|| format!("{} realm=\"berth mock\"", capitalised(http)));
                (
                    "/header/Authorization".to_string(),
                    format!("must be '{} ...' (security scheme '{}')", capitalised(http), scheme.name),
                )
            }
            SecurityKind::BearerToken => {
                challenge.get_or_insert_with(|| "Bearer realm=\"berth mock\"".into());
                (
                    "/header/Authorization".to_string(),
                    format!("must be 'Bearer ...' (security scheme '{}')", scheme.name),
                )
            }
            SecurityKind::Unchecked => continue,
        };
        problems.push(Problem { pointer, detail });
    }
    Err(Refused { status: 401, problems, challenge })
}

fn authorization_has(parts: &Parts<'_>, scheme: &str) -> bool {
    let Some(value) = parts.header("authorization") else { return false };
    let value = String::from_utf8_lossy(value);
    match value.split_once(' ') {
        Some((given, credentials)) => given.eq_ignore_ascii_case(scheme) && !credentials.trim().is_empty(),
        None => false,
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase(),
        None => String::new(),
    }
}

/// Parameters and body. Parameter failures make it a 400, body failures
/// alone a 422 (malformed JSON is a 400, an undocumented type a 415).
pub fn request(api: &Api, operation: &Operation, parts: &Parts<'_>) -> Result<(), Refused> {
    let schemas = &api.schemas;
    let mut failures: Vec<Failure> = Vec::new();
    let query = query_pairs(parts.query);
    let cookies = parts.cookies();
    for parameter in &operation.parameters {
        let (place, value) = match parameter.place {
            ParameterIn::Path => (
                "path",
                parts
                    .path_params
                    .iter()
                    .find(|(name, _)| *name == parameter.name)
                    .map(|(_, raw)| params::path_parameter(schemas, parameter, raw)),
            ),
            ParameterIn::Query => ("query", params::query_parameter(schemas, parameter, &query)),
            ParameterIn::Header => (
                "header",
                parts
                    .header(&parameter.name)
                    .map(|raw| params::header_parameter(schemas, parameter, &String::from_utf8_lossy(raw))),
            ),
            ParameterIn::Cookie => (
                "cookie",
                cookies
                    .iter()
                    .find(|(k, _)| *k == parameter.name)
                    .map(|(_, v)| params::coerce(schemas, parameter.schema, v)),
            ),
        };
        let pointer = format!("/{place}/{}", pointer_token(&parameter.name));
        match value {
            None if parameter.required => failures.push(Failure { pointer, message: "is required".into() }),
            None => {}
            Some(Value::String(text)) if text.is_empty() && parameter.allow_empty_value => {}
            Some(value) => {
                if let Some(schema) = parameter.schema {
                    validate(schemas, schema, &value, Direction::Request, &pointer, &mut failures);
                }
            }
        }
    }
    let parameters_failed = !failures.is_empty();
    if let Some(body) = &operation.request_body {
        check_body(api, body, parts, &mut failures)?;
    }
    if failures.is_empty() {
        return Ok(());
    }
    let status = if parameters_failed { 400 } else { 422 };
    Err(Refused { status, problems: failures.into_iter().map(problem).collect(), challenge: None })
}

fn problem(failure: Failure) -> Problem {
    Problem { pointer: failure.pointer, detail: failure.message }
}

/// The body: present when required, of a documented media type, well
/// formed, and valid against that type's schema.
fn check_body(api: &Api, body: &RequestBody, parts: &Parts<'_>, failures: &mut Vec<Failure>) -> Result<(), Refused> {
    if parts.body.is_empty() {
        if body.required {
            failures.push(Failure { pointer: "/body".into(), message: "is required".into() });
        }
        return Ok(());
    }
    let content_type = parts.header("content-type").map(|v| String::from_utf8_lossy(v).into_owned());
    let base = content_type
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    let media = if base.is_empty() {
        body.content.first()
    } else {
        body.content
            .iter()
            .find(|m| m.media_type.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case(&base))
            .or_else(|| {
                let (major, _) = base.split_once('/').unwrap_or((&base, ""));
                body.content.iter().find(|m| {
                    let documented = m.media_type.to_ascii_lowercase();
                    documented == "*/*" || documented == format!("{major}/*")
                })
            })
    };
    let Some(media) = media else {
        let documented: Vec<&str> = body.content.iter().map(|m| m.media_type.as_str()).collect();
        return Err(Refused {
            status: 415,
            problems: vec![Problem {
                pointer: "/header/Content-Type".into(),
                detail: format!("must be one of: {}", documented.join(", ")),
            }],
            challenge: None,
        });
    };
    let Some(schema) = media.schema else { return Ok(()) };
    let media_base = media.media_type.to_ascii_lowercase();
    let kind = if base.is_empty() { media_base.as_str() } else { base.as_str() };
    let value = if kind == "application/x-www-form-urlencoded" {
        params::form_to_value(&api.schemas, Some(schema), &params::parse_form(parts.body))
    } else if kind == "application/json" || kind.ends_with("+json") || kind.contains('*') {
        match serde_json::from_slice::<Value>(parts.body) {
            Ok(value) => value,
            Err(error) => {
                return Err(Refused {
                    status: 400,
                    problems: vec![Problem { pointer: "/body".into(), detail: format!("is not valid JSON: {error}") }],
                    challenge: None,
                })
            }
        }
    } else if kind.starts_with("text/") {
        Value::String(String::from_utf8_lossy(parts.body).into_owned())
    } else {
        // multipart/form-data, binary types: not read (docs/mock.md says so).
        return Ok(());
    };
    validate(&api.schemas, schema, &value, Direction::Request, "/body", failures);
    Ok(())
}

/// The query's pairs, decoded as a form (`+` is a space).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query.map(|q| params::parse_form(q.as_bytes())).unwrap_or_default()
}
