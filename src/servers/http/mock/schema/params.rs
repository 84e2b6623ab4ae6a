//! Parameter text into values, by the parameter's schema and its OpenAPI
//! style: `1,2,3` (simple), `a=1&a=2` (form, exploded), `.1.2` (label),
//! `;id=1;id=2` (matrix), `a[x]=1` (deepObject), space- and
//! pipe-delimited; and form bodies (`application/x-www-form-urlencoded`).
//! A value that does not parse as its type stays a string, so that the
//! validator reports "must be an integer" rather than the value vanishing.

use serde_json::{Map, Number, Value};

use crate::servers::http::mock::model::{Parameter, SchemaId, Schemas, Style, Type};

/// The types a schema wants, looking through allOf/oneOf/anyOf's first parts.
fn types(schemas: &Schemas, schema: Option<SchemaId>) -> Vec<Type> {
    let mut here = schema;
    for _ in 0..8 {
        let Some(id) = here else { return Vec::new() };
        let node = schemas.get(id);
        if let Some(types) = &node.types {
            return types.clone();
        }
        here = node.all_of.first().or(node.one_of.first()).or(node.any_of.first()).copied();
    }
    Vec::new()
}

fn item_schema(schemas: &Schemas, schema: Option<SchemaId>) -> Option<SchemaId> {
    schema.and_then(|id| schemas.get(id).items)
}

fn property_schema(schemas: &Schemas, schema: Option<SchemaId>, name: &str) -> Option<SchemaId> {
    let id = schema?;
    let node = schemas.get(id);
    node.properties.iter().find(|(n, _)| n == name).map(|(_, p)| *p).or(match node.additional_properties {
        crate::servers::http::mock::model::Additional::Schema(extra) => Some(extra),
        _ => None,
    })
}

/// One scalar value in the type its schema wants.
pub fn coerce(schemas: &Schemas, schema: Option<SchemaId>, raw: &str) -> Value {
    let wanted = types(schemas, schema);
    if raw.is_empty() && wanted.contains(&Type::Null) {
        return Value::Null;
    }
    for t in &wanted {
        match t {
            Type::Integer => {
                if let Ok(n) = raw.parse::<i64>() {
                    return Value::Number(n.into());
                }
            }
            Type::Number => {
                if let Some(n) = raw.parse::<f64>().ok().and_then(Number::from_f64) {
                    return Value::Number(n);
                }
            }
            Type::Boolean => match raw {
                "true" => return Value::Bool(true),
                "false" => return Value::Bool(false),
                _ => {}
            },
            Type::Null if raw == "null" => return Value::Null,
            _ => {}
        }
    }
    Value::String(raw.to_string())
}

fn is_array(schemas: &Schemas, schema: Option<SchemaId>) -> bool {
    types(schemas, schema).contains(&Type::Array)
}

fn is_object(schemas: &Schemas, schema: Option<SchemaId>) -> bool {
    let t = types(schemas, schema);
    t.contains(&Type::Object) && !t.contains(&Type::String)
}

/// Text split by a delimiter into an array or object value.
fn split_value(schemas: &Schemas, schema: Option<SchemaId>, raw: &str, delimiter: char) -> Value {
    if is_array(schemas, schema) {
        if raw.is_empty() {
            return Value::Array(Vec::new());
        }
        let item = item_schema(schemas, schema);
        return Value::Array(raw.split(delimiter).map(|part| coerce(schemas, item, part)).collect());
    }
    if is_object(schemas, schema) {
        let parts: Vec<&str> = raw.split(delimiter).collect();
        let mut map = Map::new();
        for pair in parts.chunks(2) {
            if let [key, value] = pair {
                map.insert(key.to_string(), coerce(schemas, property_schema(schemas, schema, key), value));
            }
        }
        return Value::Object(map);
    }
    coerce(schemas, schema, raw)
}

/// A path parameter's value (already percent-decoded), by its style.
pub fn path_parameter(schemas: &Schemas, parameter: &Parameter, raw: &str) -> Value {
    let schema = parameter.schema;
    match parameter.style {
        Style::Label => split_value(
            schemas,
            schema,
            raw.strip_prefix('.').unwrap_or(raw),
            if parameter.explode { '.' } else { ',' },
        ),
        Style::Matrix => {
            let prefix = format!(";{}=", parameter.name);
            if parameter.explode && is_array(schemas, schema) {
                let item = item_schema(schemas, schema);
                return Value::Array(
                    raw.split(&prefix).filter(|p| !p.is_empty()).map(|p| coerce(schemas, item, p)).collect(),
                );
            }
            split_value(schemas, schema, raw.strip_prefix(&prefix).unwrap_or(raw), ',')
        }
        _ => simple(schemas, parameter, raw),
    }
}

/// A header parameter's value (simple style).
pub fn header_parameter(schemas: &Schemas, parameter: &Parameter, raw: &str) -> Value {
    simple(schemas, parameter, raw)
}

fn simple(schemas: &Schemas, parameter: &Parameter, raw: &str) -> Value {
    if parameter.explode && is_object(schemas, parameter.schema) {
        // `a=1,b=2`
        let mut map = Map::new();
        for pair in raw.split(',') {
            if let Some((key, value)) = pair.split_once('=') {
                map.insert(key.to_string(), coerce(schemas, property_schema(schemas, parameter.schema, key), value));
            }
        }
        return Value::Object(map);
    }
    split_value(schemas, parameter.schema, raw, ',')
}

/// A query (or cookie) parameter's value from the decoded pairs, by its
/// style; None when the request does not carry it.
pub fn query_parameter(schemas: &Schemas, parameter: &Parameter, pairs: &[(String, String)]) -> Option<Value> {
    let schema = parameter.schema;
    let name = parameter.name.as_str();
    let named = || pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str());
    match parameter.style {
        Style::DeepObject => {
            let prefix = format!("{name}[");
            let mut map = Map::new();
            for (key, value) in pairs {
                if let Some(property) = key.strip_prefix(&prefix).and_then(|k| k.strip_suffix(']')) {
                    map.insert(
                        property.to_string(),
                        coerce(schemas, property_schema(schemas, schema, property), value),
                    );
                }
            }
            (!map.is_empty()).then_some(Value::Object(map))
        }
        Style::Form if parameter.explode && is_object(schemas, schema) => {
            // The object's properties are pairs of their own.
            let node = schemas.get(schema?);
            let mut map = Map::new();
            for (property, id) in &node.properties {
                if let Some((_, value)) = pairs.iter().find(|(k, _)| k == property) {
                    map.insert(property.clone(), coerce(schemas, Some(*id), value));
                }
            }
            (!map.is_empty()).then_some(Value::Object(map))
        }
        Style::Form if parameter.explode && is_array(schemas, schema) => {
            let values: Vec<&str> = named().collect();
            if values.is_empty() {
                return None;
            }
            let item = item_schema(schemas, schema);
            Some(Value::Array(values.into_iter().map(|v| coerce(schemas, item, v)).collect()))
        }
        style => {
            let raw = named().next()?;
            let delimiter = match style {
                Style::SpaceDelimited => ' ',
                Style::PipeDelimited => '|',
                _ => ',',
            };
            Some(split_value(schemas, schema, raw, delimiter))
        }
    }
}

/// `application/x-www-form-urlencoded` (and query strings): pairs, `+` as a
/// space and `%XX` decoded; a malformed escape is kept as written.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            (decode_form(key), decode_form(value))
        })
        .collect()
}

fn decode_form(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Vec<u8> = crate::servers::http::request::percent_decoded(&spaced).map(|b| b.unwrap_or(b'%')).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A form body as the object its schema describes: each field coerced by
/// its property's schema, repeated fields as arrays where the property is
/// one.
pub fn form_to_value(schemas: &Schemas, schema: Option<SchemaId>, pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (key, value) in pairs {
        let property = property_schema(schemas, schema, key);
        if is_array(schemas, property) {
            let item = item_schema(schemas, property);
            let entry = map.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(coerce(schemas, item, value));
            }
        } else {
            map.insert(key.clone(), coerce(schemas, property, value));
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::http::mock::model::{ParameterIn, Schema};
    use serde_json::json;

    fn parameter(schema: SchemaId, style: Style, explode: bool) -> Parameter {
        Parameter {
            name: "id".into(),
            place: ParameterIn::Query,
            required: false,
            schema: Some(schema),
            style,
            explode,
            allow_empty_value: false,
        }
    }

    #[test]
    fn styles_become_values() {
        let mut s = Schemas::default();
        let int = s.add(Schema { types: Some(vec![Type::Integer]), ..Schema::default() });
        let ints = s.add(Schema { types: Some(vec![Type::Array]), items: Some(int), ..Schema::default() });
        let point = s.add(Schema {
            types: Some(vec![Type::Object]),
            properties: vec![("x".into(), int), ("y".into(), int)],
            ..Schema::default()
        });
        let pairs = |text: &str| parse_form(text.as_bytes());
        assert_eq!(query_parameter(&s, &parameter(int, Style::Form, true), &pairs("id=5")), Some(json!(5)));
        assert_eq!(query_parameter(&s, &parameter(int, Style::Form, true), &pairs("id=five")), Some(json!("five")));
        assert_eq!(query_parameter(&s, &parameter(int, Style::Form, true), &pairs("other=1")), None);
        assert_eq!(query_parameter(&s, &parameter(ints, Style::Form, true), &pairs("id=1&id=2")), Some(json!([1, 2])));
        assert_eq!(query_parameter(&s, &parameter(ints, Style::Form, false), &pairs("id=1,2")), Some(json!([1, 2])));
        assert_eq!(
            query_parameter(&s, &parameter(ints, Style::SpaceDelimited, false), &pairs("id=1%202")),
            Some(json!([1, 2]))
        );
        assert_eq!(
            query_parameter(&s, &parameter(ints, Style::PipeDelimited, false), &pairs("id=1|2")),
            Some(json!([1, 2]))
        );
        assert_eq!(
            query_parameter(&s, &parameter(point, Style::DeepObject, true), &pairs("id[x]=1&id[y]=2")),
            Some(json!({"x": 1, "y": 2}))
        );
        assert_eq!(
            query_parameter(&s, &parameter(point, Style::Form, true), &pairs("x=1&y=2")),
            Some(json!({"x": 1, "y": 2}))
        );
        assert_eq!(path_parameter(&s, &parameter(ints, Style::Simple, false), "1,2,3"), json!([1, 2, 3]));
        assert_eq!(path_parameter(&s, &parameter(ints, Style::Label, false), ".1,2"), json!([1, 2]));
        assert_eq!(path_parameter(&s, &parameter(ints, Style::Matrix, true), ";id=1;id=2"), json!([1, 2]));
        assert_eq!(path_parameter(&s, &parameter(point, Style::Simple, true), "x=1,y=2"), json!({"x": 1, "y": 2}));
        assert_eq!(path_parameter(&s, &parameter(point, Style::Simple, false), "x,1,y,2"), json!({"x": 1, "y": 2}));
    }

    #[test]
    fn form_bodies_decode() {
        assert_eq!(
            parse_form(b"a=1+2&b=%41%zz&c&=x"),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "A%zz".into()),
                ("c".into(), "".into()),
                ("".into(), "x".into())
            ]
        );
        let mut s = Schemas::default();
        let int = s.add(Schema { types: Some(vec![Type::Integer]), ..Schema::default() });
        let ints = s.add(Schema { types: Some(vec![Type::Array]), items: Some(int), ..Schema::default() });
        let form = s.add(Schema {
            types: Some(vec![Type::Object]),
            properties: vec![("n".into(), int), ("many".into(), ints)],
            ..Schema::default()
        });
        assert_eq!(
            form_to_value(&s, Some(form), &parse_form(b"n=3&many=1&many=2&x=y")),
            json!({"n": 3, "many": [1, 2], "x": "y"})
        );
    }
}
