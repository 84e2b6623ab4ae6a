//! OpenAPI 3.0/3.1 and Swagger 2.0 documents into the model: paths and
//! operations, parameters, request bodies, responses, examples, security,
//! base paths. Where 2.0 differs (body and formData parameters, produces
//! and consumes, schema-like parameters and headers, definitions) it is
//! handled beside 3.x, so both end in the same model.

use serde_json::Value;

use super::{schema, LoadError, Loader, Node};
use crate::servers::http::mock::model::{
    Api, MediaType, Operation, Parameter, ParameterIn, RequestBody, Response, ResponseHeader, Schema, SecurityKind,
    SecurityScheme, SourceKind, StatusKey, Style, Type,
};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

struct Context {
    swagger: bool,
    /// Swagger 2.0's global consumes/produces.
    consumes: Vec<String>,
    produces: Vec<String>,
}

pub(super) fn convert(loader: &mut Loader, root: &Node) -> Result<Api, LoadError> {
    let (source, swagger) = match (root.get().get("openapi"), root.get().get("swagger")) {
        (Some(Value::String(version)), _) if version.starts_with("3.0") => (SourceKind::OpenApi30, false),
        (Some(Value::String(version)), _) if version.starts_with("3.1") => (SourceKind::OpenApi31, false),
        (Some(version), _) => {
            return Err(loader.error(
                &root.child("openapi"),
                &format!("OpenAPI {} is not supported; berth reads 3.0, 3.1 and Swagger 2.0", version_text(version)),
            ))
        }
        (None, Some(version)) if version_text(version) == "2.0" => (SourceKind::Swagger20, true),
        (None, Some(version)) => {
            return Err(loader.error(
                &root.child("swagger"),
                &format!(
                    "Swagger {} is not supported; berth reads Swagger 2.0 and OpenAPI 3.0 and 3.1",
                    version_text(version)
                ),
            ))
        }
        (None, None) => unreachable!("the caller checked for either field"),
    };
    loader.json_schema_2020 = source == SourceKind::OpenApi31;
    let strings = |node: Option<&Value>| -> Vec<String> {
        node.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let context = Context {
        swagger,
        consumes: strings(root.get().get("consumes")),
        produces: strings(root.get().get("produces")),
    };
    let mut api = Api {
        title: root.get().pointer("/info/title").and_then(Value::as_str).unwrap_or("API").to_string(),
        source,
        ..Api::default()
    };
    api.base_paths = base_paths(root, swagger);
    let schemes = if swagger {
        root.field("securityDefinitions")
    } else {
        root.field("components").and_then(|c| c.field("securitySchemes"))
    };
    if let Some(schemes) = schemes {
        for (name, scheme) in schemes.entries() {
            let scheme = loader.resolve(&scheme)?;
            let kind = security_kind(loader, &scheme)?;
            api.security_schemes.push(SecurityScheme { name, kind });
        }
    }
    let global_security = match root.field("security") {
        Some(node) => Some(security(loader, &api, &node)?),
        None => None,
    };
    for feature in ["webhooks"] {
        if let Some(node) = root.field(feature) {
            loader.unsupported(feature, &node);
        }
    }
    let Some(paths) = root.field("paths") else { return Ok(api) };
    if !paths.get().is_object() {
        return Err(loader.error(&paths, "'paths' must be a mapping of paths to operations"));
    }
    for (path, item) in paths.entries() {
        if path.starts_with("x-") {
            continue;
        }
        if !path.starts_with('/') {
            return Err(loader.error(&item, &format!("the path '{path}' must start with '/'")));
        }
        let item = loader.resolve(&item)?;
        if !item.get().is_object() {
            return Err(loader.error(&item, "a path item must be a mapping of methods to operations"));
        }
        let shared = match item.field("parameters") {
            Some(node) => parameters(loader, &node, &context)?,
            None => Vec::new(),
        };
        for method in METHODS {
            let Some(node) = item.field(method) else { continue };
            // Not in the specification, but common in split specs
            // (DigitalOcean's): an operation that is a $ref to a file.
            let node = loader.resolve(&node)?;
            let operation = operation(loader, &api, &context, &path, method, &node, &shared, &global_security)?;
            api.operations.push(operation);
        }
    }
    Ok(api)
}

fn version_text(version: &Value) -> String {
    match version {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The path parts of `servers[].url` (3.x, with variables at their
/// defaults) or `basePath` (2.0).
fn base_paths(root: &Node, swagger: bool) -> Vec<String> {
    let mut paths = Vec::new();
    if swagger {
        if let Some(base) = root.str_field("basePath") {
            paths.push(base.to_string());
        }
    } else if let Some(Value::Array(servers)) = root.get().get("servers") {
        for server in servers {
            let Some(url) = server.get("url").and_then(Value::as_str) else { continue };
            let mut url = url.to_string();
            if let Some(Value::Object(variables)) = server.get("variables") {
                for (name, variable) in variables {
                    let default = variable.get("default").and_then(Value::as_str).unwrap_or_default();
                    url = url.replace(&format!("{{{name}}}"), default);
                }
            }
            let path = match url.split_once("://") {
                Some((_, rest)) => rest.find('/').map(|at| rest[at..].to_string()).unwrap_or_default(),
                None => url,
            };
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .map(|p| p.trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty() && p.starts_with('/'))
        .collect()
}

fn security_kind(loader: &mut Loader, scheme: &Node) -> Result<SecurityKind, LoadError> {
    let kind = scheme.str_field("type").unwrap_or_default().to_string();
    Ok(match kind.as_str() {
        "apiKey" => {
            let place = match scheme.str_field("in") {
                Some("header") => ParameterIn::Header,
                Some("query") => ParameterIn::Query,
                Some("cookie") => ParameterIn::Cookie,
                _ => return Err(loader.error(scheme, "an apiKey scheme needs 'in: header', 'query' or 'cookie'")),
            };
            let name = scheme.str_field("name").unwrap_or_default().to_string();
            SecurityKind::ApiKey { place, name }
        }
        "http" => SecurityKind::Http { scheme: scheme.str_field("scheme").unwrap_or("bearer").to_ascii_lowercase() },
        "basic" => SecurityKind::Http { scheme: "basic".into() },
        "oauth2" | "openIdConnect" => SecurityKind::BearerToken,
        other => {
            loader.unsupported(&format!("the security scheme type '{other}' (not checked)"), scheme);
            SecurityKind::Unchecked
        }
    })
}

/// A security requirement: alternatives of scheme indexes.
fn security(loader: &mut Loader, api: &Api, node: &Node) -> Result<Vec<Vec<usize>>, LoadError> {
    let mut alternatives = Vec::new();
    for alternative in node.items() {
        let mut schemes = Vec::new();
        for (name, _) in alternative.entries() {
            let Some(index) = api.security_schemes.iter().position(|s| s.name == name) else {
                return Err(loader.error(&alternative, &format!("the security scheme '{name}' is not defined")));
            };
            schemes.push(index);
        }
        alternatives.push(schemes);
    }
    Ok(alternatives)
}

#[allow(clippy::too_many_arguments)]
fn operation(
    loader: &mut Loader,
    api: &Api,
    context: &Context,
    path: &str,
    method: &str,
    node: &Node,
    shared: &[Parameter],
    global_security: &Option<Vec<Vec<usize>>>,
) -> Result<Operation, LoadError> {
    if !node.get().is_object() {
        return Err(loader.error(node, "an operation must be a mapping"));
    }
    let mut parameters: Vec<Parameter> = shared.to_vec();
    let mut body = None;
    if let Some(list) = node.field("parameters") {
        let list = loader.resolve(&list)?;
        for parameter in parameters_with_body(loader, &list, context, node, &mut body)? {
            parameters.retain(|p| !(p.name == parameter.name && p.place == parameter.place));
            parameters.push(parameter);
        }
    }
    if !context.swagger {
        if let Some(request_body) = node.field("requestBody") {
            let request_body = loader.resolve(&request_body)?;
            let mut content = Vec::new();
            if let Some(types) = request_body.field("content") {
                for (media_type, media) in types.entries() {
                    content.push(media_type_object(loader, &media_type, &media)?);
                }
            }
            let required = request_body.get().get("required").and_then(Value::as_bool).unwrap_or(false);
            body = Some(RequestBody { required, content });
        }
    }
    let mut responses = Vec::new();
    let produces = strings(node.get().get("produces")).unwrap_or_else(|| context.produces.clone());
    if let Some(list) = node.field("responses") {
        let list = loader.resolve(&list)?;
        for (status, response) in list.entries() {
            if status.starts_with("x-") {
                continue;
            }
            let key = match status.as_str() {
                "default" => StatusKey::Default,
                code if code.len() == 3 && (code.ends_with("XX") || code.ends_with("xx")) => {
                    match code[..1].parse::<u16>() {
                        Ok(hundreds @ 1..=5) => StatusKey::Range(hundreds),
                        _ => return Err(loader.error(&response, &format!("'{status}' is not a status"))),
                    }
                }
                code => match code.parse::<u16>() {
                    Ok(code @ 100..=599) => StatusKey::Exact(code),
                    _ => {
                        return Err(
                            loader.error(&response, &format!("'{status}' is not a status (100-599, 2XX or default)"))
                        )
                    }
                },
            };
            let response = loader.resolve(&response)?;
            responses.push(response_object(loader, context, key, &response, &produces)?);
        }
    }
    let security = match node.field("security") {
        Some(list) => security(loader, api, &list)?,
        None => global_security.clone().unwrap_or_default(),
    };
    // An empty alternative ({}) makes the whole requirement optional.
    let security = if security.iter().any(Vec::is_empty) { Vec::new() } else { security };
    for feature in ["callbacks"] {
        if let Some(found) = node.field(feature) {
            loader.unsupported(feature, &found);
        }
    }
    let fail = match node.get().get("x-berth-fail") {
        Some(Value::String(rule)) => vec![rule.clone()],
        Some(Value::Array(rules)) => rules.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(_) => {
            return Err(loader.error(&node.child("x-berth-fail"), "x-berth-fail must be a string or a list of strings"))
        }
        None => Vec::new(),
    };
    Ok(Operation {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        operation_id: node.str_field("operationId").map(str::to_string),
        parameters,
        request_body: body,
        responses,
        security,
        delay: node.str_field("x-berth-delay").map(str::to_string),
        fail,
        location: loader.location(node),
    })
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Path-level parameters (no body allowed there in practice).
fn parameters(loader: &mut Loader, list: &Node, context: &Context) -> Result<Vec<Parameter>, LoadError> {
    let mut body = None;
    parameters_with_body(loader, list, context, list, &mut body)
}

/// A parameter list; Swagger's `in: body` and `in: formData` become the
/// request body.
fn parameters_with_body(
    loader: &mut Loader,
    list: &Node,
    context: &Context,
    operation: &Node,
    body: &mut Option<RequestBody>,
) -> Result<Vec<Parameter>, LoadError> {
    let mut out = Vec::new();
    let mut form_fields: Vec<(String, bool, Node)> = Vec::new();
    if !list.get().is_array() {
        return Err(loader.error(list, "'parameters' must be a list"));
    }
    for item in list.items() {
        let item = loader.resolve(&item)?;
        let Some(name) = item.str_field("name").map(str::to_string) else {
            return Err(loader.error(&item, "a parameter needs a 'name'"));
        };
        let required = item.get().get("required").and_then(Value::as_bool).unwrap_or(false);
        let place = match item.str_field("in") {
            Some("path") => ParameterIn::Path,
            Some("query") => ParameterIn::Query,
            Some("header") => ParameterIn::Header,
            Some("cookie") => ParameterIn::Cookie,
            Some("body") if context.swagger => {
                let schema = match item.field("schema") {
                    Some(schema) => Some(schema::convert(loader, &schema)?),
                    None => None,
                };
                let consumes = strings(operation.get().get("consumes")).unwrap_or_else(|| context.consumes.clone());
                let types = if consumes.is_empty() { vec!["application/json".to_string()] } else { consumes };
                let content = types
                    .into_iter()
                    .map(|media_type| MediaType { media_type, schema, example: None, examples: vec![], literal: None })
                    .collect();
                *body = Some(RequestBody { required, content });
                continue;
            }
            Some("formData") if context.swagger => {
                form_fields.push((name, required, item.clone()));
                continue;
            }
            other => {
                return Err(loader.error(
                    &item,
                    &format!("the parameter '{name}' has 'in: {}', which is not a place for one", other.unwrap_or("?")),
                ))
            }
        };
        let schema = if context.swagger {
            // A Swagger 2.0 parameter is its own schema (type, format,
            // items, enum, bounds); its other fields are annotations.
            Some(schema::convert(loader, &item)?)
        } else if let Some(schema) = item.field("schema") {
            Some(schema::convert(loader, &schema)?)
        } else if let Some(content) = item.field("content") {
            let entries = content.entries();
            if entries.len() > 1 {
                loader.unsupported("a parameter with several content types (the first is used)", &content);
            }
            match entries.first().and_then(|(_, media)| media.field("schema")) {
                Some(schema) => Some(schema::convert(loader, &schema)?),
                None => None,
            }
        } else {
            None
        };
        let (style, explode) = if context.swagger {
            match item.str_field("collectionFormat").unwrap_or("csv") {
                "ssv" => (Style::SpaceDelimited, false),
                "pipes" => (Style::PipeDelimited, false),
                "multi" => (Style::Form, true),
                "tsv" => (Style::Simple, false),
                _ if matches!(place, ParameterIn::Query | ParameterIn::Cookie) => (Style::Form, false),
                _ => (Style::Simple, false),
            }
        } else {
            let style = match item.str_field("style") {
                Some("form") => Style::Form,
                Some("simple") => Style::Simple,
                Some("label") => Style::Label,
                Some("matrix") => Style::Matrix,
                Some("spaceDelimited") => Style::SpaceDelimited,
                Some("pipeDelimited") => Style::PipeDelimited,
                Some("deepObject") => Style::DeepObject,
                Some(other) => return Err(loader.error(&item.child("style"), &format!("unknown style '{other}'"))),
                None if matches!(place, ParameterIn::Query | ParameterIn::Cookie) => Style::Form,
                None => Style::Simple,
            };
            let explode = item.get().get("explode").and_then(Value::as_bool).unwrap_or(style == Style::Form);
            (style, explode)
        };
        out.push(Parameter {
            name,
            place,
            required: required || place == ParameterIn::Path,
            schema,
            style,
            explode,
            allow_empty_value: item.get().get("allowEmptyValue").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    if !form_fields.is_empty() {
        // Swagger 2.0 form fields: one object schema, in the form encodings.
        let mut object = Schema { types: Some(vec![Type::Object]), ..Schema::default() };
        let mut file = false;
        for (name, required, field) in &form_fields {
            file |= field.str_field("type") == Some("file");
            let id = schema::convert(loader, field)?;
            object.properties.push((name.clone(), id));
            if *required {
                object.required.push(name.clone());
            }
        }
        let any_required = !object.required.is_empty();
        let id = loader.schemas.add(object);
        let consumes = strings(operation.get().get("consumes")).unwrap_or_else(|| context.consumes.clone());
        let mut types: Vec<String> = consumes
            .into_iter()
            .filter(|t| t.starts_with("application/x-www-form-urlencoded") || t.starts_with("multipart/form-data"))
            .collect();
        if types.is_empty() {
            types.push(if file { "multipart/form-data" } else { "application/x-www-form-urlencoded" }.to_string());
        }
        let content = types
            .into_iter()
            .map(|media_type| MediaType {
                media_type,
                schema: Some(id),
                example: None,
                examples: vec![],
                literal: None,
            })
            .collect();
        *body = Some(RequestBody { required: any_required, content });
    }
    Ok(out)
}

fn response_object(
    loader: &mut Loader,
    context: &Context,
    status: StatusKey,
    node: &Node,
    produces: &[String],
) -> Result<Response, LoadError> {
    let mut headers = Vec::new();
    if let Some(list) = node.field("headers") {
        let list = loader.resolve(&list)?;
        for (name, header) in list.entries() {
            let header = loader.resolve(&header)?;
            let (schema, example) = if context.swagger {
                (Some(schema::convert(loader, &header)?), header.get().get("x-example").cloned())
            } else {
                let schema = match header.field("schema") {
                    Some(schema) => Some(schema::convert(loader, &schema)?),
                    None => None,
                };
                let example = match header.get().get("example") {
                    Some(example) => Some(example.clone()),
                    None => first_example(loader, &header)?,
                };
                (schema, example)
            };
            headers.push(ResponseHeader { name, schema, example });
        }
    }
    let mut content = Vec::new();
    if context.swagger {
        let schema = match node.field("schema") {
            Some(schema) => Some(schema::convert(loader, &schema)?),
            None => None,
        };
        let examples = node.get().get("examples").and_then(Value::as_object).cloned().unwrap_or_default();
        if schema.is_some() || !examples.is_empty() {
            let mut types: Vec<String> =
                if produces.is_empty() { vec!["application/json".into()] } else { produces.to_vec() };
            for media_type in examples.keys() {
                if !types.contains(media_type) {
                    types.push(media_type.clone());
                }
            }
            for media_type in types {
                let example = examples.get(&media_type).cloned();
                content.push(MediaType { media_type, schema, example, examples: vec![], literal: None });
            }
        }
    } else if let Some(types) = node.field("content") {
        let types = loader.resolve(&types)?;
        for (media_type, media) in types.entries() {
            content.push(media_type_object(loader, &media_type, &media)?);
        }
    }
    if let Some(links) = node.field("links") {
        loader.unsupported("links", &links);
    }
    Ok(Response { status, headers, content })
}

fn media_type_object(loader: &mut Loader, media_type: &str, node: &Node) -> Result<MediaType, LoadError> {
    let schema = match node.field("schema") {
        Some(schema) => Some(schema::convert(loader, &schema)?),
        None => None,
    };
    let mut examples = Vec::new();
    if let Some(list) = node.field("examples") {
        for (name, example) in list.entries() {
            let example = loader.resolve(&example)?;
            if let Some(value) = example_value(loader, &example)? {
                examples.push((name, value));
            }
        }
    }
    if media_type.contains("xml") {
        loader.unsupported("XML bodies (answered from examples as written; not generated)", node);
    }
    Ok(MediaType {
        media_type: media_type.to_string(),
        schema,
        example: node.get().get("example").cloned(),
        examples,
        literal: None,
    })
}

/// An Example Object's value: `value`, or `externalValue` read from a file
/// beside the document (JSON when it parses, else text).
fn example_value(loader: &mut Loader, example: &Node) -> Result<Option<Value>, LoadError> {
    if let Some(value) = example.get().get("value") {
        return Ok(Some(value.clone()));
    }
    if let Some(external) = example.str_field("externalValue") {
        if external.contains("://") {
            loader.unsupported("externalValue URLs (berth reads local files only)", example);
            return Ok(None);
        }
        let path = example.file.parent().unwrap_or(std::path::Path::new(".")).join(external);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            loader.error(&example.child("externalValue"), &format!("cannot read the example {}: {e}", path.display()))
        })?;
        if let Ok(canonical) = std::fs::canonicalize(&path) {
            if !loader.files.contains(&canonical) {
                loader.files.push(canonical);
            }
        }
        return Ok(Some(serde_json::from_str(&text).unwrap_or(Value::String(text))));
    }
    Ok(None)
}

fn first_example(loader: &mut Loader, node: &Node) -> Result<Option<Value>, LoadError> {
    let Some(list) = node.field("examples") else { return Ok(None) };
    let Some((_, first)) = list.entries().into_iter().next() else { return Ok(None) };
    let first = loader.resolve(&first)?;
    example_value(loader, &first)
}
