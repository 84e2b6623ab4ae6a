//! Loading an API: OpenAPI 3.0/3.1, Swagger 2.0 or a routes file, in JSON or
//! YAML, across files, into the [`super::model::Api`] the mock serves.
//!
//! - [`yaml`]: YAML/JSON text into values, with line lookup and an alias budget;
//! - this module: the documents read (each file once, by canonical path),
//!   nodes (a place in a document), `$ref` resolution, errors and the list
//!   of unsupported features;
//! - `openapi`: paths, operations, parameters, bodies, responses, security
//!   (3.x and 2.0 side by side, where they differ);
//! - `schema`: JSON Schema into [`super::model::Schema`], one id per place;
//! - `routes`: berth's own routes file.

mod openapi;
mod routes;
mod schema;
pub mod yaml;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::servers::http::request::percent_decoded_text;
use serde_json::Value;

use super::model::{pointer_token, Api, Location, SchemaId, Unsupported};

/// Largest file read.
pub const MAX_FILE: u64 = 256 * 1024 * 1024;

/// Why an API could not be loaded: one line, naming the file, its line and
/// the JSON pointer wherever they exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: Option<u32>,
    pub pointer: Option<String>,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(pointer) = &self.pointer {
            write!(f, " (at #{pointer})")?;
        }
        Ok(())
    }
}

/// Loads the API in `path`.
pub fn load(path: &Path) -> Result<Api, LoadError> {
    let mut loader = Loader::default();
    let root = loader.open(path, None)?;
    let Value::Object(top) = root.get() else {
        return Err(
            loader.error(&root, "this file is not a mapping: neither OpenAPI 3.x, Swagger 2.0 nor a routes file")
        );
    };
    let mut api = if top.contains_key("openapi") || top.contains_key("swagger") {
        openapi::convert(&mut loader, &root)?
    } else if top.contains_key("routes") || top.contains_key("route") {
        routes::convert(&mut loader, &root)?
    } else {
        return Err(loader.error(
            &root,
            "this file is neither OpenAPI 3.x (an 'openapi' field), Swagger 2.0 ('swagger: \"2.0\"') nor a routes file (a 'routes' list or [[route]] tables)",
        ));
    };
    api.schemas = std::mem::take(&mut loader.schemas);
    api.files = loader.files.clone();
    api.unsupported = loader.unsupported;
    Ok(api)
}

/// One read document. Its text is not kept (a big spec's is tens of
/// megabytes): errors read the file again to find their line.
struct Document {
    value: Arc<Value>,
}

/// A place in a document: its file and a JSON pointer.
#[derive(Clone)]
pub(super) struct Node {
    pub file: Arc<PathBuf>,
    doc: Arc<Value>,
    pub pointer: String,
}

impl Node {
    /// The value here (Null when the pointer leads nowhere, which the
    /// reference resolver rules out before making such a node).
    pub fn get(&self) -> &Value {
        navigate(&self.doc, &self.pointer).unwrap_or(&Value::Null)
    }

    /// The child under `key` (an object key or an array index).
    pub fn child(&self, key: &str) -> Node {
        Node {
            file: self.file.clone(),
            doc: self.doc.clone(),
            pointer: format!("{}/{}", self.pointer, pointer_token(key)),
        }
    }

    pub fn field(&self, key: &str) -> Option<Node> {
        self.get().get(key).map(|_| self.child(key))
    }

    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.get().get(key).and_then(Value::as_str)
    }

    /// The entries of an object, in order, as (key, node).
    pub fn entries(&self) -> Vec<(String, Node)> {
        match self.get() {
            Value::Object(map) => map.keys().map(|k| (k.clone(), self.child(k))).collect(),
            _ => Vec::new(),
        }
    }

    /// The items of an array, as nodes.
    pub fn items(&self) -> Vec<Node> {
        match self.get() {
            Value::Array(items) => (0..items.len()).map(|i| self.child(&i.to_string())).collect(),
            _ => Vec::new(),
        }
    }
}

fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        std::borrow::Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

fn navigate<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    let mut here = value;
    for token in pointer.strip_prefix('/')?.split('/') {
        let token = unescape(token);
        here = match here {
            Value::Object(map) => map.get(token.as_ref())?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(here)
}

#[derive(Default)]
pub(super) struct Loader {
    documents: FxHashMap<PathBuf, Document>,
    pub files: Vec<PathBuf>,
    pub schemas: super::model::Schemas,
    /// The schema made for each place, so a place is converted once and
    /// a recursive schema is a cycle of ids.
    pub schema_ids: FxHashMap<(Arc<PathBuf>, String), SchemaId>,
    pub unsupported: Vec<Unsupported>,
    unsupported_index: FxHashMap<String, usize>,
    /// OpenAPI 3.0 or Swagger 2.0 (nullable, boolean exclusive bounds), or 3.1.
    pub json_schema_2020: bool,
}

impl Loader {
    /// Reads `path` (once) and gives the node of its root. `from` is the
    /// node whose `$ref` leads here, for the error when it cannot be read.
    fn open(&mut self, path: &Path, from: Option<&Node>) -> Result<Node, LoadError> {
        let fail = |loader: &Loader, message: String| match from {
            Some(node) => loader.error(node, &message),
            None => LoadError { file: path.to_path_buf(), line: None, pointer: None, message },
        };
        let canonical = match std::fs::canonicalize(path) {
            Ok(canonical) => canonical,
            Err(error) => {
                return Err(fail(
                    self,
                    format!("cannot read {}: {}; check the path", path.display(), crate::net::error_text(&error)),
                ))
            }
        };
        if !self.documents.contains_key(&canonical) {
            let meta = std::fs::metadata(&canonical)
                .map_err(|e| fail(self, format!("cannot read {}: {}", path.display(), crate::net::error_text(&e))))?;
            if meta.is_dir() {
                return Err(fail(self, format!("{} is a directory; give the spec's file", path.display())));
            }
            if meta.len() > MAX_FILE {
                return Err(fail(
                    self,
                    format!("{} is larger than {} MiB; berth refuses it", path.display(), MAX_FILE >> 20),
                ));
            }
            let bytes = std::fs::read(&canonical)
                .map_err(|e| fail(self, format!("cannot read {}: {}", path.display(), crate::net::error_text(&e))))?;
            let text =
                String::from_utf8(bytes).map_err(|_| fail(self, format!("{} is not UTF-8 text", path.display())))?;
            let value = parse_text(&text, &canonical).map_err(|(line, message)| LoadError {
                file: path.to_path_buf(),
                line,
                pointer: None,
                message,
            })?;
            self.files.push(canonical.clone());
            self.documents.insert(canonical.clone(), Document { value: Arc::new(value) });
        }
        let document = &self.documents[&canonical];
        Ok(Node { file: Arc::new(canonical), doc: document.value.clone(), pointer: String::new() })
    }

    /// An error at `node`: its file, the line where the node starts, its pointer.
    pub fn error(&self, node: &Node, message: &str) -> LoadError {
        let line = self.text(&node.file).and_then(|text| {
            let tokens: Vec<String> = match node.pointer.strip_prefix('/') {
                Some(rest) => rest.split('/').map(|t| unescape(t).into_owned()).collect(),
                None => Vec::new(),
            };
            yaml::line_of(&text, &tokens)
        });
        LoadError {
            file: shown_path(&node.file),
            line,
            pointer: (!node.pointer.is_empty()).then(|| node.pointer.clone()),
            message: message.to_string(),
        }
    }

    /// The text of a file read, for line lookups of formats the YAML walk
    /// does not read (TOML).
    pub fn text(&self, file: &Path) -> Option<String> {
        std::fs::read_to_string(file).ok()
    }

    pub fn location(&self, node: &Node) -> Location {
        Location { file: node.file.clone(), pointer: node.pointer.clone(), line: None }
    }

    /// Notes a feature berth does not act on (once per kind, counted).
    pub fn unsupported(&mut self, what: &str, node: &Node) {
        match self.unsupported_index.get(what) {
            Some(&index) => self.unsupported[index].count += 1,
            None => {
                let mut location = self.location(node);
                location.line = self.error(node, "").line;
                self.unsupported_index.insert(what.to_string(), self.unsupported.len());
                self.unsupported.push(Unsupported { what: what.to_string(), location, count: 1 });
            }
        }
    }

    /// Follows `$ref`s from `node` to the node they lead to (the node
    /// itself when it has none). A chain that comes back is an error.
    pub fn resolve(&mut self, node: &Node) -> Result<Node, LoadError> {
        let mut here = node.clone();
        for _ in 0..64 {
            let Some(reference) = here.get().get("$ref").and_then(Value::as_str).map(str::to_string) else {
                return Ok(here);
            };
            here = self.follow(&here, &reference)?;
        }
        Err(self.error(node, "a $ref chain that never ends (a cycle of references)"))
    }

    /// The node one `$ref` names, relative to the file it is written in.
    pub fn follow(&mut self, from: &Node, reference: &str) -> Result<Node, LoadError> {
        let at = from.child("$ref");
        if reference.contains("://") {
            return Err(self.error(&at, &format!("$ref to a remote document '{reference}': berth reads local files only; download it and refer to the file")));
        }
        let (file, fragment) = match reference.split_once('#') {
            Some((file, fragment)) => (file, fragment),
            None => (reference, ""),
        };
        let target = if file.is_empty() {
            Node { pointer: String::new(), ..from.clone() }
        } else {
            let decoded = percent_decoded_text(file);
            let base = from.file.parent().unwrap_or(Path::new("."));
            let path = base.join(&decoded);
            if !path.exists() {
                return Err(self.error(&at, &format!("$ref to a missing file '{file}' ({})", path.display())));
            }
            self.open(&path, Some(&at))?
        };
        let pointer = percent_decoded_text(fragment);
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(self.error(
                &at,
                &format!("$ref '{reference}': the part after # must be a JSON pointer (#/components/...)"),
            ));
        }
        let node = Node { pointer, ..target };
        if navigate(&node.doc, &node.pointer).is_none() {
            return Err(self.error(
                &at,
                &format!(
                    "$ref '{reference}' leads nowhere: no #{} in {}",
                    node.pointer,
                    shown_path(&node.file).display()
                ),
            ));
        }
        Ok(node)
    }
}

/// A file's text as a value: JSON by serde_json (fast) when it looks like
/// JSON, YAML otherwise; TOML for .toml files (routes).
fn parse_text(text: &str, path: &Path) -> Result<Value, (Option<u32>, String)> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    if extension == "toml" {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| (toml_line(text, &e), format!("TOML syntax error: {}", e.message())))?;
        return serde_json::to_value(table).map_err(|e| (None, format!("cannot read the TOML: {e}")));
    }
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if extension == "json" || trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).map_err(|e| (Some(e.line() as u32), format!("JSON syntax error: {e}")));
    }
    yaml::parse(text).map_err(|e| {
        let column = e.column.map(|c| format!(", column {c}")).unwrap_or_default();
        (e.line, format!("YAML syntax error{column}: {}", e.message))
    })
}

fn toml_line(text: &str, error: &toml::de::Error) -> Option<u32> {
    let span = error.span()?;
    Some(text[..span.start.min(text.len())].matches('\n').count() as u32 + 1)
}

/// A path as the user would recognise it: relative to the working
/// directory when it is under it.
fn shown_path(path: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => path.strip_prefix(&cwd).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf()),
        Err(_) => path.to_path_buf(),
    }
}
