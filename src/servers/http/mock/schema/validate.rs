//! Validating a value against a schema, each failure named by a JSON
//! pointer into the value (prefixed by the caller: `/body/pets/0/name`).
//!
//! Patterns are compiled once per schema and kept (validation runs per
//! request); nesting and the number of failures are bounded, so that a
//! hostile body cannot exhaust the stack or make an endless report.

use std::sync::{Arc, Mutex, OnceLock};

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::generate::Direction;
use crate::servers::http::mock::model::{pointer_token, Additional, SchemaId, Schemas, Type};

/// Deepest nesting of a value checked.
pub const MAX_DEPTH: usize = 64;

/// Most failures reported for one value.
pub const MAX_FAILURES: usize = 100;

/// One failing part of a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub pointer: String,
    pub message: String,
}

/// Checks `value` against the schema `id`, adding what fails to `failures`.
pub fn validate(
    schemas: &Schemas,
    id: SchemaId,
    value: &Value,
    direction: Direction,
    pointer: &str,
    failures: &mut Vec<Failure>,
) {
    let mut pointer = pointer.to_string();
    check(schemas, id, value, direction, &mut pointer, failures, 0);
}

/// Whether `value` is valid (no failures), for oneOf/anyOf and generation.
pub fn is_valid(schemas: &Schemas, id: SchemaId, value: &Value, direction: Direction) -> bool {
    let mut failures = Vec::new();
    validate(schemas, id, value, direction, "", &mut failures);
    failures.is_empty()
}

fn fail(failures: &mut Vec<Failure>, pointer: &str, message: String) {
    if failures.len() < MAX_FAILURES {
        failures.push(Failure { pointer: pointer.to_string(), message });
    }
}

/// Compiled patterns, by pattern text, shared by every schema of the process.
fn pattern(text: &str) -> Option<Arc<regex::Regex>> {
    static CACHE: OnceLock<Mutex<FxHashMap<String, Option<Arc<regex::Regex>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.entry(text.to_string()).or_insert_with(|| regex::Regex::new(text).ok().map(Arc::new)).clone()
}

fn type_name(t: Type) -> &'static str {
    match t {
        Type::Null => "null",
        Type::Boolean => "a boolean",
        Type::Integer => "an integer",
        Type::Number => "a number",
        Type::String => "a string",
        Type::Array => "an array",
        Type::Object => "an object",
    }
}

pub fn has_type(value: &Value, t: Type) -> bool {
    match (t, value) {
        (Type::Null, Value::Null) => true,
        (Type::Boolean, Value::Bool(_)) => true,
        (Type::Number, Value::Number(_)) => true,
        (Type::Integer, Value::Number(n)) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        (Type::String, Value::String(_)) => true,
        (Type::Array, Value::Array(_)) => true,
        (Type::Object, Value::Object(_)) => true,
        _ => false,
    }
}

/// JSON equality with numbers compared by value (1 == 1.0).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn list(values: &[Value]) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(10)
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let more = if values.len() > 10 { ", ..." } else { "" };
    format!("{}{more}", shown.join(", "))
}

#[allow(clippy::too_many_arguments)]
fn check(
    schemas: &Schemas,
    id: SchemaId,
    value: &Value,
    direction: Direction,
    pointer: &mut String,
    failures: &mut Vec<Failure>,
    depth: usize,
) {
    if failures.len() >= MAX_FAILURES {
        return;
    }
    if depth > MAX_DEPTH {
        fail(failures, pointer, format!("is nested too deeply (more than {MAX_DEPTH} levels)"));
        return;
    }
    let schema = schemas.get(id);
    if schema.never {
        fail(failures, pointer, "is not allowed here".into());
        return;
    }
    for &part in &schema.all_of {
        check(schemas, part, value, direction, pointer, failures, depth + 1);
    }
    if !schema.any_of.is_empty() && !schema.any_of.iter().any(|&b| is_valid_at(schemas, b, value, direction, depth)) {
        fail(failures, pointer, "matches none of the anyOf alternatives".into());
    }
    if !schema.one_of.is_empty() {
        let matching = schema.one_of.iter().filter(|&&b| is_valid_at(schemas, b, value, direction, depth)).count();
        match matching {
            1 => {}
            0 => fail(failures, pointer, "matches none of the oneOf alternatives".into()),
            n => fail(failures, pointer, format!("matches {n} of the oneOf alternatives (exactly one allowed)")),
        }
    }
    if let Some(not) = schema.not {
        if is_valid_at(schemas, not, value, direction, depth) {
            fail(failures, pointer, "must not match the 'not' schema".into());
        }
    }
    if let Some(types) = &schema.types {
        if !types.iter().any(|&t| has_type(value, t)) {
            let names: Vec<&str> = types.iter().map(|&t| type_name(t)).collect();
            fail(failures, pointer, format!("must be {}", names.join(" or ")));
            return;
        }
    }
    if let Some(values) = &schema.enumeration {
        if !values.iter().any(|v| json_equal(v, value)) {
            fail(failures, pointer, format!("must be one of: {}", list(values)));
        }
    }
    if let Some(constant) = &schema.constant {
        if !json_equal(constant, value) {
            fail(failures, pointer, format!("must be {constant}"));
        }
    }
    match value {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.minimum.filter(|m| x < *m) {
                fail(failures, pointer, format!("must be at least {min}"));
            }
            if let Some(max) = schema.maximum.filter(|m| x > *m) {
                fail(failures, pointer, format!("must be at most {max}"));
            }
            if let Some(min) = schema.exclusive_minimum.filter(|m| x <= *m) {
                fail(failures, pointer, format!("must be more than {min}"));
            }
            if let Some(max) = schema.exclusive_maximum.filter(|m| x >= *m) {
                fail(failures, pointer, format!("must be less than {max}"));
            }
            if let Some(step) = schema.multiple_of {
                let ratio = x / step;
                if (ratio - ratio.round()).abs() > 1e-9 * ratio.abs().max(1.0) {
                    fail(failures, pointer, format!("must be a multiple of {step}"));
                }
            }
            match schema.format.as_deref() {
                Some("int32") if !(i32::MIN as f64..=i32::MAX as f64).contains(&x) => {
                    fail(failures, pointer, "must fit in 32 bits (int32)".into())
                }
                Some("int64") if !(i64::MIN as f64..=i64::MAX as f64).contains(&x) => {
                    fail(failures, pointer, "must fit in 64 bits (int64)".into())
                }
                _ => {}
            }
        }
        Value::String(text) => {
            let length = text.chars().count() as u64;
            if let Some(min) = schema.min_length.filter(|m| length < *m) {
                fail(failures, pointer, format!("must be at least {min} characters long"));
            }
            if let Some(max) = schema.max_length.filter(|m| length > *m) {
                fail(failures, pointer, format!("must be at most {max} characters long"));
            }
            if let Some(text_pattern) = &schema.pattern {
                if let Some(regex) = pattern(text_pattern) {
                    if !regex.is_match(text) {
                        fail(failures, pointer, format!("must match the pattern {text_pattern}"));
                    }
                }
            }
            if let Some(format) = &schema.format {
                if let Some(what) = format_failure(format, text) {
                    fail(failures, pointer, format!("must be {what}"));
                }
            }
        }
        Value::Array(items) => {
            let length = items.len() as u64;
            if let Some(min) = schema.min_items.filter(|m| length < *m) {
                fail(failures, pointer, format!("must have at least {min} items"));
            }
            if let Some(max) = schema.max_items.filter(|m| length > *m) {
                fail(failures, pointer, format!("must have at most {max} items"));
            }
            if schema.unique_items {
                let duplicate = (0..items.len()).any(|i| (0..i).any(|j| json_equal(&items[i], &items[j])));
                if duplicate {
                    fail(failures, pointer, "must not have duplicate items".into());
                }
            }
            for (index, item) in items.iter().enumerate() {
                let item_schema = schema.prefix_items.get(index).copied().or(schema.items);
                if let Some(item_schema) = item_schema {
                    let length = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&index.to_string());
                    check(schemas, item_schema, item, direction, pointer, failures, depth + 1);
                    pointer.truncate(length);
                }
            }
        }
        Value::Object(map) => {
            for name in &schema.required {
                if !map.contains_key(name) {
                    // A readOnly property is not the client's to send (nor writeOnly the server's).
                    let skipped = schema.properties.iter().find(|(n, _)| n == name).is_some_and(|(_, p)| {
                        let p = schemas.get(*p);
                        (direction == Direction::Request && p.read_only)
                            || (direction == Direction::Response && p.write_only)
                    });
                    if !skipped {
                        fail(failures, &format!("{pointer}/{}", pointer_token(name)), "is required".into());
                    }
                }
            }
            let count = map.len() as u64;
            if let Some(min) = schema.min_properties.filter(|m| count < *m) {
                fail(failures, pointer, format!("must have at least {min} properties"));
            }
            if let Some(max) = schema.max_properties.filter(|m| count > *m) {
                fail(failures, pointer, format!("must have at most {max} properties"));
            }
            for (name, item) in map {
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&pointer_token(name));
                match schema.properties.iter().find(|(n, _)| n == name) {
                    Some((_, property)) => {
                        let p = schemas.get(*property);
                        if direction == Direction::Request && p.read_only {
                            fail(failures, pointer, "is read-only".into());
                        } else if direction == Direction::Response && p.write_only {
                            fail(failures, pointer, "is write-only".into());
                        } else {
                            check(schemas, *property, item, direction, pointer, failures, depth + 1);
                        }
                    }
                    None => match schema.additional_properties {
                        Additional::Any => {}
                        Additional::Forbidden => {
                            let message = format!("is not allowed (no property '{name}' in the schema)");
                            fail(failures, pointer, message)
                        }
                        Additional::Schema(extra) => {
                            check(schemas, extra, item, direction, pointer, failures, depth + 1)
                        }
                    },
                }
                pointer.truncate(length);
            }
        }
        _ => {}
    }
}

fn is_valid_at(schemas: &Schemas, id: SchemaId, value: &Value, direction: Direction, depth: usize) -> bool {
    let mut failures = Vec::new();
    let mut pointer = String::new();
    check(schemas, id, value, direction, &mut pointer, &mut failures, depth + 1);
    failures.is_empty()
}

/// What a string fails to be for its format, if it does; unknown formats pass.
pub fn format_failure(format: &str, text: &str) -> Option<&'static str> {
    let ok = match format {
        "date-time" => humantime::parse_rfc3339_weak(text).is_ok() && text.len() >= 20 && is_rfc3339(text),
        "date" => is_date(text),
        "time" => is_time(text),
        "email" => {
            let (local, domain) = text.split_once('@').unwrap_or(("", ""));
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !text.contains(char::is_whitespace)
        }
        "uuid" => {
            let parts: Vec<&str> = text.split('-').collect();
            parts.len() == 5
                && parts
                    .iter()
                    .zip([8, 4, 4, 4, 12])
                    .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
        }
        "uri" | "url" => {
            text.split_once(':').is_some_and(|(scheme, _)| {
                !scheme.is_empty() && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            }) && !text.contains(char::is_whitespace)
        }
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        "hostname" => {
            !text.is_empty()
                && text.len() <= 253
                && text.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
        "byte" => data_encoding::BASE64.decode(text.as_bytes()).is_ok(),
        _ => true,
    };
    if ok {
        return None;
    }
    Some(match format {
        "date-time" => "a date-time (RFC 3339, 2024-01-31T12:00:00Z)",
        "date" => "a date (2024-01-31)",
        "time" => "a time (12:00:00Z)",
        "email" => "an email address",
        "uuid" => "a UUID",
        "uri" | "url" => "a URI",
        "ipv4" => "an IPv4 address",
        "ipv6" => "an IPv6 address",
        "hostname" => "a host name",
        "byte" => "base64",
        _ => "of its format",
    })
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9].iter().all(|&i| b[i].is_ascii_digit())
        && (1..=12).contains(&text[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&text[8..10].parse::<u32>().unwrap_or(0))
}

fn is_time(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| text.get(r).is_some_and(|s| s.bytes().all(|c| c.is_ascii_digit()));
    if !(digits(0..2) && digits(3..5) && digits(6..8)) {
        return false;
    }
    let mut rest = &text[8..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction.len());
        if end == 0 {
            return false;
        }
        rest = &fraction[end..];
    }
    rest.eq_ignore_ascii_case("z")
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':'
            && rest[1..3].bytes().all(|c| c.is_ascii_digit())
            && rest[4..6].bytes().all(|c| c.is_ascii_digit()))
}

fn is_rfc3339(text: &str) -> bool {
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some(parts) => parts,
        None => return false,
    };
    is_date(date) && is_time(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::http::mock::model::Schema;
    use serde_json::json;

    fn failures(schemas: &Schemas, id: SchemaId, value: Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        validate(schemas, id, &value, Direction::Request, "/body", &mut out);
        out.into_iter().map(|f| (f.pointer, f.message)).collect()
    }

    #[test]
    fn failures_name_their_pointers() {
        let mut schemas = Schemas::default();
        let name = schemas.add(Schema { types: Some(vec![Type::String]), min_length: Some(2), ..Schema::default() });
        let id = schemas.add(Schema { types: Some(vec![Type::Integer]), read_only: true, ..Schema::default() });
        let status =
            schemas.add(Schema { enumeration: Some(vec![json!("available"), json!("sold")]), ..Schema::default() });
        let tags = schemas.add(Schema { types: Some(vec![Type::Array]), items: Some(name), ..Schema::default() });
        let pet = schemas.add(Schema {
            types: Some(vec![Type::Object]),
            properties: vec![("name".into(), name), ("id".into(), id), ("status".into(), status), ("a/b".into(), tags)],
            required: vec!["name".into(), "id".into()],
            additional_properties: Additional::Forbidden,
            ..Schema::default()
        });
        assert!(failures(&schemas, pet, json!({"name": "Rex"})).is_empty(), "readOnly id is not required of a client");
        assert_eq!(
            failures(&schemas, pet, json!({"status": "lost", "a/b": ["ok", "x", 3], "extra": 1, "id": 4})),
            vec![
                ("/body/name".to_string(), "is required".to_string()),
                ("/body/status".into(), "must be one of: available, sold".into()),
                ("/body/a~1b/1".into(), "must be at least 2 characters long".into()),
                ("/body/a~1b/2".into(), "must be a string".into()),
                ("/body/extra".into(), "is not allowed (no property 'extra' in the schema)".into()),
                ("/body/id".into(), "is read-only".into()),
            ]
        );
        assert_eq!(failures(&schemas, pet, json!([])), vec![("/body".to_string(), "must be an object".to_string())]);
    }

    #[test]
    fn formats_bounds_and_alternatives() {
        let mut schemas = Schemas::default();
        let when = schemas.add(Schema { format: Some("date-time".into()), ..Schema::default() });
        assert!(failures(&schemas, when, json!("2024-01-31T12:00:00Z")).is_empty());
        assert!(failures(&schemas, when, json!("2024-01-31T12:00:00.5+02:00")).is_empty());
        assert_eq!(failures(&schemas, when, json!("yesterday")).len(), 1);
        let small = schemas.add(Schema { types: Some(vec![Type::Integer]), maximum: Some(10.0), ..Schema::default() });
        let text = schemas.add(Schema { types: Some(vec![Type::String]), ..Schema::default() });
        let either = schemas.add(Schema { one_of: vec![small, text], ..Schema::default() });
        assert!(failures(&schemas, either, json!(5)).is_empty());
        assert_eq!(failures(&schemas, either, json!(50))[0].1, "matches none of the oneOf alternatives");
        let any = schemas.add(Schema::default());
        let both = schemas.add(Schema { one_of: vec![any, text], ..Schema::default() });
        assert!(failures(&schemas, both, json!("x"))[0].1.contains("2 of the oneOf"));
        assert_eq!(failures(&schemas, small, json!(11))[0].1, "must be at most 10");
        assert!(failures(&schemas, small, json!(3.0)).is_empty(), "3.0 is an integer");
    }

    #[test]
    fn deep_and_wide_values_are_bounded() {
        let mut schemas = Schemas::default();
        let tree = schemas.add(Schema::default());
        schemas.nodes[tree.0 as usize] =
            Schema { types: Some(vec![Type::Array]), items: Some(tree), ..Schema::default() };
        let mut deep = json!([]);
        for _ in 0..1_000 {
            deep = json!([deep]);
        }
        let found = failures(&schemas, tree, deep);
        assert_eq!(found.len(), 1);
        assert!(found[0].1.contains("nested too deeply"));
        let string = schemas.add(Schema { types: Some(vec![Type::String]), ..Schema::default() });
        let strings = schemas.add(Schema { types: Some(vec![Type::Array]), items: Some(string), ..Schema::default() });
        let many: Vec<Value> = (0..1000).map(|n| json!(n)).collect();
        assert_eq!(failures(&schemas, strings, Value::Array(many)).len(), MAX_FAILURES);
    }
}
