//! The mock's model of an API: what the loaders ([`super::spec`]) make of
//! an OpenAPI 3.0/3.1 document, a Swagger 2.0 one or a routes file, and
//! what the rest of the mock reads (the router, the responder, the
//! generator and validator of [`super::schema`]).
//!
//! Every `$ref` is resolved by the loader: a schema that refers to another
//! is that schema's [`SchemaId`] in the [`Schemas`] arena, so recursive
//! schemas are cycles of ids, never infinite trees; parameters, request
//! bodies, responses, headers and examples arrive inlined.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

/// One API, ready to serve.
#[derive(Debug, Default)]
pub struct Api {
    /// `info.title` (or the routes file's name), for the start-up line.
    pub title: String,
    /// Which kind of input it came from, for the start-up line.
    pub source: SourceKind,
    pub operations: Vec<Operation>,
    pub schemas: Schemas,
    pub security_schemes: Vec<SecurityScheme>,
    /// The path prefixes requests may carry before an operation's path:
    /// the path part of each OpenAPI `servers[].url` ("/v1"), Swagger's
    /// `basePath`. Empty: none. "/" is not stored.
    pub base_paths: Vec<String>,
    /// Every file read to build this API (the spec first): the files hot
    /// reload watches.
    pub files: Vec<PathBuf>,
    /// What the document uses that berth does not support, each once; said
    /// at start-up, never silently ignored.
    pub unsupported: Vec<Unsupported>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceKind {
    #[default]
    OpenApi30,
    OpenApi31,
    Swagger20,
    Routes,
}

/// Where something is in the input: a file, a JSON pointer in it, and its
/// line when known (1-based).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<PathBuf>,
    /// RFC 6901, with `~0` and `~1` escapes: "/paths/~1pets/get".
    pub pointer: String,
    pub line: Option<u32>,
}

impl std::fmt::Display for Location {
    /// `spec.yaml:12 (#/paths/~1pets/get)`, or without the line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown =
            std::env::current_dir().ok().and_then(|cwd| self.file.strip_prefix(cwd).ok().map(|p| p.to_path_buf()));
        write!(f, "{}", shown.as_deref().unwrap_or(self.file.as_path()).display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, " (#{})", self.pointer)
    }
}

/// A JSON pointer token (RFC 6901): `~` as `~0`, `/` as `~1`. The one
/// escape of the mock's pointers, into specs and into requests alike.
pub fn pointer_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        std::borrow::Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

/// A feature of the input berth does not act on: listed at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// What it is: "callbacks", "xml", "pattern (look-around)" ...
    pub what: String,
    /// The first place it appears.
    pub location: Location,
    /// How many places use it.
    pub count: usize,
}

/// One method on one path template.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper case: "GET", "POST" ...
    pub method: String,
    /// The template as written: "/pets/{petId}".
    pub path: String,
    /// `operationId`, or None.
    pub operation_id: Option<String>,
    /// Path-level and operation-level parameters merged (the operation's
    /// win on the same name and place).
    pub parameters: Vec<Parameter>,
    pub request_body: Option<RequestBody>,
    /// In the order written; the responder picks by [`StatusKey`].
    pub responses: Vec<Response>,
    /// The security requirement: alternatives, each a set of scheme names
    /// (indexes into [`Api::security_schemes`]) that must all be present.
    /// Empty: no security. An alternative that is empty (`{}`) means
    /// anonymous access is allowed.
    pub security: Vec<Vec<usize>>,
    /// `x-berth-delay` on the operation, or a route's `delay` (the
    /// grammar of `--delay`), as written.
    pub delay: Option<String>,
    /// `x-berth-fail` on the operation, or a route's `fail` (each in the
    /// grammar of `--fail`), as written.
    pub fail: Vec<String>,
    pub location: Location,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterIn {
    Path,
    Query,
    Header,
    Cookie,
}

/// How an array or object parameter is written (OpenAPI `style`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Path and header default: `1,2,3`.
    Simple,
    /// Query and cookie default: `a=1&a=2` (explode) or `a=1,2`.
    Form,
    /// `.1.2` in a path.
    Label,
    /// `;a=1;a=2` in a path.
    Matrix,
    /// `a=1%202` (space delimited).
    SpaceDelimited,
    /// `a=1|2`.
    PipeDelimited,
    /// `a[x]=1&a[y]=2`.
    DeepObject,
}

#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub place: ParameterIn,
    /// Always true for path parameters.
    pub required: bool,
    pub schema: Option<SchemaId>,
    pub style: Style,
    pub explode: bool,
    pub allow_empty_value: bool,
}

#[derive(Debug, Clone)]
pub struct RequestBody {
    pub required: bool,
    /// By media type ("application/json", "application/x-www-form-urlencoded",
    /// "multipart/form-data", "*/*" ...), in the order written.
    pub content: Vec<MediaType>,
}

/// Which responses a status code matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKey {
    Exact(u16),
    /// "2XX": the hundreds digit.
    Range(u16),
    Default,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusKey,
    pub headers: Vec<ResponseHeader>,
    /// By media type, in the order written; empty: no body.
    pub content: Vec<MediaType>,
}

#[derive(Debug, Clone)]
pub struct ResponseHeader {
    pub name: String,
    pub schema: Option<SchemaId>,
    /// `example` (or the first of `examples`); a routes file's literal value.
    pub example: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct MediaType {
    /// As written: "application/json", "application/*", "*/*" ...
    pub media_type: String,
    pub schema: Option<SchemaId>,
    /// The media type's `example` (Swagger: the response's `examples`
    /// entry for this type).
    pub example: Option<Value>,
    /// Named examples (`examples: {cat: {value: ...}}`), in order, their
    /// `$ref`s and `externalValue`s (read from the file) resolved.
    pub examples: Vec<(String, Value)>,
    /// A routes file's body, sent as it is (inline text or a file's bytes).
    pub literal: Option<Bytes>,
}

/// A named entry of `components.securitySchemes` (`securityDefinitions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityScheme {
    pub name: String,
    pub kind: SecurityKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityKind {
    /// `apiKey`: a header, query parameter or cookie of this name.
    ApiKey { place: ParameterIn, name: String },
    /// `http` with `scheme: basic`, `bearer`, ... : `Authorization: <scheme> ...`.
    Http { scheme: String },
    /// `oauth2` and `openIdConnect`: `Authorization: Bearer ...`.
    BearerToken,
    /// `mutualTLS` and anything else berth cannot check (listed as unsupported).
    Unchecked,
}

/// Index of a schema in [`Schemas`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(pub u32);

/// Every schema of an API; `$ref`s are ids into it.
#[derive(Debug, Default, Clone)]
pub struct Schemas {
    pub nodes: Vec<Schema>,
}

impl Schemas {
    pub fn get(&self, id: SchemaId) -> &Schema {
        &self.nodes[id.0 as usize]
    }

    pub fn add(&mut self, schema: Schema) -> SchemaId {
        self.nodes.push(schema);
        SchemaId(self.nodes.len() as u32 - 1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

/// `additionalProperties`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Additional {
    /// Absent or `true`.
    #[default]
    Any,
    /// `false`.
    Forbidden,
    Schema(SchemaId),
}

/// One JSON Schema, normalised across OpenAPI 3.0 (nullable, boolean
/// exclusiveMinimum), 3.1 (type arrays, numeric exclusiveMinimum,
/// `examples`) and Swagger 2.0. A `true` schema is `Schema::default()`;
/// a `false` schema has `never`.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// None: any type. 3.0's `nullable: true` adds [`Type::Null`].
    pub types: Option<Vec<Type>>,
    pub format: Option<String>,
    /// `enum`.
    pub enumeration: Option<Vec<Value>>,
    /// `const`.
    pub constant: Option<Value>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub multiple_of: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    /// ECMA-262 as written; the validator and generator skip one the
    /// `regex` crate cannot compile (the loader lists it as unsupported).
    pub pattern: Option<String>,
    pub items: Option<SchemaId>,
    /// 3.1 `prefixItems` (and 3.0-era tuple `items: [...]`).
    pub prefix_items: Vec<SchemaId>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    /// In the order written.
    pub properties: Vec<(String, SchemaId)>,
    pub required: Vec<String>,
    pub additional_properties: Additional,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub all_of: Vec<SchemaId>,
    pub any_of: Vec<SchemaId>,
    pub one_of: Vec<SchemaId>,
    pub not: Option<SchemaId>,
    pub read_only: bool,
    pub write_only: bool,
    /// `example`, or the first of 3.1's `examples`.
    pub example: Option<Value>,
    pub default: Option<Value>,
    /// The `false` schema: nothing validates.
    pub never: bool,
}
