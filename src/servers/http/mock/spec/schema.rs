//! JSON Schema (as OpenAPI 3.0, 3.1 and Swagger 2.0 write it) into
//! [`Schema`]s. Each place (file and pointer) becomes one id, reserved
//! before its children are converted, so that a schema that contains
//! itself, however indirectly, is a cycle of ids.

use serde_json::Value;

use super::{LoadError, Loader, Node};
use crate::servers::http::mock::model::{Additional, Schema, SchemaId, Type};

/// Keywords that only annotate: nothing to act on, nothing to report.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "externalDocs",
    "deprecated",
    "$comment",
    "$schema",
    "$id",
    "$defs",
    "definitions",
    "discriminator",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
    "$anchor",
    // Swagger 2.0 parameters and headers are schema-like; their own fields:
    "name",
    "in",
    "collectionFormat",
    "allowEmptyValue",
    "style",
    "explode",
    "allowReserved",
    "examples",
];

/// Keywords that change what validates, which berth does not act on.
const UNSUPPORTED: &[&str] = &[
    "patternProperties",
    "propertyNames",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "xml",
];

pub(super) fn convert(loader: &mut Loader, node: &Node) -> Result<SchemaId, LoadError> {
    let key = (node.file.clone(), node.pointer.clone());
    if let Some(&id) = loader.schema_ids.get(&key) {
        return Ok(id);
    }
    match node.get() {
        Value::Bool(true) => return Ok(reserve(loader, key, Schema::default())),
        Value::Bool(false) => return Ok(reserve(loader, key, Schema { never: true, ..Schema::default() })),
        Value::Object(_) => {}
        _ => return Err(loader.error(node, "a schema must be an object (or true/false)")),
    }
    // Borrowed through the node's own handle on the document, not the
    // loader: no copy of the subtree (a big spec has big ones).
    let document = node.clone();
    let empty = serde_json::Map::new();
    let object = document.get().as_object().unwrap_or(&empty);
    if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
        let siblings = object.keys().any(|k| k != "$ref" && !ANNOTATIONS.contains(&k.as_str()) && !k.starts_with("x-"));
        if !siblings || !loader.json_schema_2020 {
            // 3.0 and 2.0: a $ref's siblings are ignored (the specification
            // says so). The chain is followed to its end first, so that a
            // cycle of bare $refs is an error, not an endless descent.
            let target = loader.resolve(node)?;
            let id = convert(loader, &target)?;
            loader.schema_ids.insert(key, id);
            return Ok(id);
        }
        // 3.1: the $ref and its siblings both apply.
        let id = reserve(loader, key, Schema::default());
        let target = loader.follow(node, reference)?;
        let referred = convert(loader, &target)?;
        let mut own = fill(loader, node, object, true)?;
        own.all_of.insert(0, referred);
        loader.schemas.nodes[id.0 as usize] = own;
        return Ok(id);
    }
    let id = reserve(loader, key, Schema::default());
    let schema = fill(loader, node, object, false)?;
    loader.schemas.nodes[id.0 as usize] = schema;
    Ok(id)
}

fn reserve(loader: &mut Loader, key: (std::sync::Arc<std::path::PathBuf>, String), schema: Schema) -> SchemaId {
    let id = loader.schemas.add(schema);
    loader.schema_ids.insert(key, id);
    id
}

fn fill(
    loader: &mut Loader,
    node: &Node,
    object: &serde_json::Map<String, Value>,
    skip_ref: bool,
) -> Result<Schema, LoadError> {
    let mut schema = Schema::default();
    let number = |key: &str| object.get(key).and_then(Value::as_f64);
    let count = |key: &str| object.get(key).and_then(Value::as_u64);
    for (key, value) in object {
        let here = || node.child(key);
        match key.as_str() {
            "$ref" if skip_ref => {}
            "type" => {
                let names: Vec<&str> = match value {
                    Value::String(name) => vec![name.as_str()],
                    Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                    _ => return Err(loader.error(&here(), "'type' must be a string or a list of strings")),
                };
                let mut types = Vec::new();
                for name in names {
                    types.push(match name {
                        "null" => Type::Null,
                        "boolean" => Type::Boolean,
                        "integer" => Type::Integer,
                        "number" => Type::Number,
                        "string" => Type::String,
                        "array" => Type::Array,
                        "object" => Type::Object,
                        "file" => {
                            schema.format.get_or_insert_with(|| "binary".into());
                            Type::String
                        }
                        other => return Err(loader.error(&here(), &format!("unknown type '{other}'"))),
                    });
                }
                schema.types = Some(types);
            }
            "nullable" => {}
            "format" => schema.format = value.as_str().map(str::to_string),
            "enum" => match value {
                Value::Array(values) => schema.enumeration = Some(values.clone()),
                _ => return Err(loader.error(&here(), "'enum' must be a list")),
            },
            "const" => schema.constant = Some(value.clone()),
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => {}
            "minLength" => schema.min_length = count(key),
            "maxLength" => schema.max_length = count(key),
            "pattern" => {
                if let Some(pattern) = value.as_str() {
                    if regex::Regex::new(pattern).is_ok() {
                        schema.pattern = Some(pattern.to_string());
                    } else {
                        loader.unsupported(
                            "a pattern the regex crate cannot compile (look-around, backreferences)",
                            &here(),
                        );
                    }
                }
            }
            "items" => match value {
                Value::Array(_) => {
                    for item in here().items() {
                        schema.prefix_items.push(convert(loader, &item)?);
                    }
                }
                _ => schema.items = Some(convert(loader, &here())?),
            },
            "prefixItems" => {
                for item in here().items() {
                    schema.prefix_items.push(convert(loader, &item)?);
                }
            }
            "additionalItems" => {}
            "minItems" => schema.min_items = count(key),
            "maxItems" => schema.max_items = count(key),
            "uniqueItems" => schema.unique_items = value.as_bool().unwrap_or(false),
            "properties" => {
                // A $ref for the whole map is not JSON Schema, but split
                // specs use it (DigitalOcean's): followed all the same.
                let properties = loader.resolve(&here())?;
                for (name, property) in properties.entries() {
                    let id = convert(loader, &property)?;
                    schema.properties.push((name, id));
                }
            }
            "required" => {
                if let Value::Array(names) = value {
                    schema.required = names.iter().filter_map(Value::as_str).map(str::to_string).collect();
                }
                // A boolean `required` is a Swagger parameter's or header's, not the schema's.
            }
            "additionalProperties" => {
                schema.additional_properties = match value {
                    Value::Bool(true) => Additional::Any,
                    Value::Bool(false) => Additional::Forbidden,
                    _ => Additional::Schema(convert(loader, &here())?),
                }
            }
            "minProperties" => schema.min_properties = count(key),
            "maxProperties" => schema.max_properties = count(key),
            "allOf" | "anyOf" | "oneOf" => {
                let mut ids = Vec::new();
                for item in here().items() {
                    ids.push(convert(loader, &item)?);
                }
                match key.as_str() {
                    "allOf" => schema.all_of.extend(ids),
                    "anyOf" => schema.any_of = ids,
                    _ => schema.one_of = ids,
                }
            }
            "not" => schema.not = Some(convert(loader, &here())?),
            "readOnly" => schema.read_only = value.as_bool().unwrap_or(false),
            "writeOnly" => schema.write_only = value.as_bool().unwrap_or(false),
            "example" => schema.example = Some(value.clone()),
            "default" => schema.default = Some(value.clone()),
            other if UNSUPPORTED.contains(&other) => {
                loader.unsupported(&format!("the schema keyword '{other}'"), &here())
            }
            other if ANNOTATIONS.contains(&other) || other.starts_with("x-") => {}
            _ => {}
        }
    }
    // `examples` in a schema is 3.1's list; in a Swagger parameter it is not there.
    if let Some(Value::Array(examples)) = object.get("examples") {
        if schema.example.is_none() {
            schema.example = examples.first().cloned();
        }
    }
    schema.minimum = number("minimum");
    schema.maximum = number("maximum");
    schema.multiple_of = number("multipleOf").filter(|m| *m > 0.0);
    // 3.0 and 2.0: a boolean that makes the bound exclusive; 3.1: the bound itself.
    match object.get("exclusiveMinimum") {
        Some(Value::Bool(true)) => schema.exclusive_minimum = schema.minimum.take(),
        Some(Value::Number(n)) => schema.exclusive_minimum = n.as_f64(),
        _ => {}
    }
    match object.get("exclusiveMaximum") {
        Some(Value::Bool(true)) => schema.exclusive_maximum = schema.maximum.take(),
        Some(Value::Number(n)) => schema.exclusive_maximum = n.as_f64(),
        _ => {}
    }
    if object.get("nullable").and_then(Value::as_bool) == Some(true) {
        match &mut schema.types {
            Some(types) if !types.contains(&Type::Null) => types.push(Type::Null),
            Some(_) => {}
            // Nullable without a type: anything, null included, which "any" already is.
            None => {}
        }
        if let Some(values) = &mut schema.enumeration {
            if !values.contains(&Value::Null) {
                values.push(Value::Null);
            }
        }
    }
    Ok(schema)
}
