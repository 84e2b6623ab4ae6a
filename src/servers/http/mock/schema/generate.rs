//! Values made from a schema: random ones that validate ([`generate`]),
//! and a fixed one per schema ([`static_value`], for headers and the
//! schema's own example).
//!
//! Recursion is bounded: past [`MAX_DEPTH`] levels optional properties are
//! left out, arrays are as short as allowed and nullable values are null,
//! so a recursive schema makes a finite value. `allOf` parts are merged
//! into one schema before a value is made; a `oneOf` value is retried
//! (a bounded number of times) until it matches exactly one branch.

use rand::{Rng, RngExt, SeedableRng};
use serde_json::{Map, Number, Value};

use super::validate::{format_failure, has_type, is_valid, json_equal};
use crate::servers::http::mock::model::{Additional, Schema, SchemaId, Schemas, Type};

/// Levels of nesting generated before values are cut short.
pub const MAX_DEPTH: usize = 6;

/// Levels past which nothing more is generated, whatever the schema requires.
const HARD_DEPTH: usize = 24;

/// Whose value it is: a request leaves readOnly properties out, an answer
/// writeOnly ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// The random generator used with `--seed`: seeded from the seed and the
/// request, so the same request gets the same value on every run.
pub type SeededRng = rand::rngs::StdRng;

/// A generator for `seed` and the parts (method, target) of one request,
/// mixed by FNV-1a (fixed, so that the value does not change between
/// builds as std's hasher may).
pub fn rng_for(seed: u64, parts: &[&[u8]]) -> SeededRng {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for part in parts {
        for &byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    SeededRng::seed_from_u64(hash)
}

/// A random value valid for the schema (as far as its keywords allow).
pub fn generate(schemas: &Schemas, id: SchemaId, rng: &mut impl Rng, direction: Direction) -> Value {
    Maker { schemas, direction, fixed: false }.make(id, rng, 0)
}

/// The schema's example, else its default, else a fixed typed value.
pub fn static_value(schemas: &Schemas, id: SchemaId, direction: Direction) -> Value {
    let mut rng = SeededRng::seed_from_u64(0);
    Maker { schemas, direction, fixed: true }.make(id, &mut rng, 0)
}

#[derive(Clone, Copy)]
struct Maker<'s> {
    schemas: &'s Schemas,
    direction: Direction,
    /// Static mode: examples and first choices, no randomness.
    fixed: bool,
}

impl Maker<'_> {
    fn make(&self, id: SchemaId, rng: &mut impl Rng, depth: usize) -> Value {
        if depth > HARD_DEPTH {
            // A schema that requires itself (a: {$ref: A}, required): no
            // finite value exists; stop rather than recurse for ever.
            return Value::Null;
        }
        let schema = self.effective(id, 0);
        if self.fixed || rng.random_bool(0.3) {
            if let Some(example) = schema.example.as_ref().or(schema.default.as_ref()) {
                return example.clone();
            }
        }
        if !schema.one_of.is_empty() {
            let branches = schema.one_of.clone();
            let mut last = Value::Null;
            for attempt in 0..8 {
                let branch = if self.fixed {
                    branches[attempt % branches.len()]
                } else {
                    branches[rng.random_range(0..branches.len())]
                };
                let value = self.make(branch, rng, depth + 1);
                let matching = branches.iter().filter(|&&b| is_valid(self.schemas, b, &value, self.direction)).count();
                if matching == 1 {
                    return value;
                }
                last = value;
            }
            return last;
        }
        if !schema.any_of.is_empty() {
            let branch =
                if self.fixed { schema.any_of[0] } else { schema.any_of[rng.random_range(0..schema.any_of.len())] };
            return self.make(branch, rng, depth + 1);
        }
        let Some(not) = schema.not else { return self.make_plain(&schema, rng, depth) };
        let mut value = Value::Null;
        for _ in 0..8 {
            value = self.make_plain(&schema, rng, depth);
            if !is_valid(self.schemas, not, &value, self.direction) {
                break;
            }
        }
        value
    }

    /// The schema with its `allOf` parts merged in (recursively, bounded).
    fn effective(&self, id: SchemaId, level: usize) -> Schema {
        let mut schema = self.schemas.get(id).clone();
        if level > 8 || schema.all_of.is_empty() {
            return schema;
        }
        for part in std::mem::take(&mut schema.all_of) {
            let part = self.effective(part, level + 1);
            merge(&mut schema, part);
        }
        schema
    }

    fn make_plain(&self, schema: &Schema, rng: &mut impl Rng, depth: usize) -> Value {
        if schema.never {
            return Value::Null;
        }
        if let Some(constant) = &schema.constant {
            return constant.clone();
        }
        if let Some(values) = schema.enumeration.as_ref().filter(|v| !v.is_empty()) {
            let usable: Vec<&Value> = values
                .iter()
                .filter(|v| schema.types.as_ref().is_none_or(|types| types.iter().any(|&t| has_type(v, t))))
                .collect();
            let pool: Vec<&Value> = if usable.is_empty() { values.iter().collect() } else { usable };
            return if self.fixed { pool[0].clone() } else { pool[rng.random_range(0..pool.len())].clone() };
        }
        let types: Vec<Type> = match &schema.types {
            Some(types) if !types.is_empty() => types.clone(),
            _ => vec![infer_type(schema)],
        };
        let non_null: Vec<Type> = types.iter().copied().filter(|t| *t != Type::Null).collect();
        let deep = depth >= MAX_DEPTH;
        let chosen = if non_null.is_empty()
            || (types.contains(&Type::Null) && (deep || (!self.fixed && rng.random_bool(0.1))))
        {
            Type::Null
        } else if self.fixed {
            non_null[0]
        } else {
            non_null[rng.random_range(0..non_null.len())]
        };
        match chosen {
            Type::Null => Value::Null,
            Type::Boolean => Value::Bool(if self.fixed { true } else { rng.random_bool(0.5) }),
            Type::Integer => Value::Number(Number::from(self.integer(schema, rng))),
            Type::Number => {
                let n = self.number(schema, rng);
                Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
            }
            Type::String => Value::String(self.string(schema, rng)),
            Type::Array => self.array(schema, rng, depth),
            Type::Object => self.object(schema, rng, depth),
        }
    }

    fn integer(&self, schema: &Schema, rng: &mut impl Rng) -> i64 {
        let mut low = schema.minimum.map(|m| m.ceil()).or(schema.exclusive_minimum.map(|m| m.floor() + 1.0));
        let mut high = schema.maximum.map(|m| m.floor()).or(schema.exclusive_maximum.map(|m| m.ceil() - 1.0));
        if schema.format.as_deref() == Some("int32") {
            low = Some(low.unwrap_or(i32::MIN as f64).max(i32::MIN as f64));
            high = Some(high.unwrap_or(i32::MAX as f64).min(i32::MAX as f64));
        }
        let low =
            low.unwrap_or(if high.is_some_and(|h| h < 0.0) { high.unwrap_or(0.0) - 1000.0 } else { 0.0 }).max(-9e15);
        let high = high.unwrap_or(low.max(0.0) + 1000.0).min(9e15);
        let (low, high) = (low as i64, (high as i64).max(low as i64));
        let step = schema.multiple_of.filter(|m| m.fract() == 0.0 && *m >= 1.0).map(|m| m as i64);
        match step {
            Some(step) => {
                let first = low.div_euclid(step) * step + if low.rem_euclid(step) == 0 { 0 } else { step };
                let count = ((high - first) / step).max(0);
                let k = if self.fixed { 0 } else { rng.random_range(0..=count) };
                first + k * step
            }
            None if self.fixed => low.max(0).min(high),
            None => rng.random_range(low..=high),
        }
    }

    fn number(&self, schema: &Schema, rng: &mut impl Rng) -> f64 {
        if let Some(step) = schema.multiple_of {
            let low = schema.minimum.or(schema.exclusive_minimum.map(|m| m + step)).unwrap_or(0.0);
            let high = schema.maximum.or(schema.exclusive_maximum.map(|m| m - step)).unwrap_or(low + 1000.0 * step);
            let first = (low / step).ceil();
            let last = (high / step).floor().max(first);
            let k = if self.fixed { first } else { rng.random_range(first..=last).round() };
            return k * step;
        }
        let low = schema.minimum.or(schema.exclusive_minimum).unwrap_or(0.0);
        let high = schema.maximum.or(schema.exclusive_maximum).unwrap_or(low.max(0.0) + 1000.0);
        if high <= low {
            return low;
        }
        if self.fixed {
            return if schema.exclusive_minimum.is_some() { (low + high) / 2.0 } else { low };
        }
        let mut value = rng.random_range(low..high);
        if schema.exclusive_minimum.is_some() && value <= low {
            value = (low + high) / 2.0;
        }
        let rounded = (value * 100.0).round() / 100.0;
        let inside = |v: f64| {
            schema.exclusive_minimum.is_none_or(|m| v > m)
                && schema.exclusive_maximum.is_none_or(|m| v < m)
                && schema.minimum.is_none_or(|m| v >= m)
                && schema.maximum.is_none_or(|m| v <= m)
        };
        if inside(rounded) {
            rounded
        } else if inside(value) {
            value
        } else {
            (low + high) / 2.0
        }
    }

    fn string(&self, schema: &Schema, rng: &mut impl Rng) -> String {
        let min = schema.min_length.unwrap_or(0) as usize;
        let max = schema.max_length.map(|m| m as usize);
        if let Some(pattern) = &schema.pattern {
            if let Some(text) = from_pattern(pattern, rng, self.fixed) {
                return text;
            }
        }
        if let Some(format) = &schema.format {
            if let Some(text) = format_sample(format, rng, self.fixed) {
                if format_failure(format, &text).is_none()
                    && text.chars().count() >= min
                    && max.is_none_or(|m| text.chars().count() <= m)
                {
                    return text;
                }
            }
        }
        let mut text = if self.fixed { "string".to_string() } else { word(rng) };
        let wanted_max = max.unwrap_or(usize::MAX);
        while text.chars().count() < min {
            text.push(if self.fixed { 'x' } else { (b'a' + rng.random_range(0..26)) as char });
        }
        if text.chars().count() > wanted_max {
            text = text.chars().take(wanted_max.max(min)).collect();
        }
        text
    }

    fn array(&self, schema: &Schema, rng: &mut impl Rng, depth: usize) -> Value {
        let min = schema.min_items.unwrap_or(0) as usize;
        let max = schema.max_items.map(|m| m as usize).unwrap_or(usize::MAX);
        let wanted = if depth >= MAX_DEPTH || self.fixed {
            min.max(usize::from(depth < MAX_DEPTH))
        } else {
            rng.random_range(1..=3).max(min)
        };
        let count = wanted.min(max).max(min).min(10_000);
        let mut items: Vec<Value> = Vec::with_capacity(count);
        let mut tries = 0;
        while items.len() < count && tries < count * 4 + 8 {
            tries += 1;
            let index = items.len();
            // A fixed array's later items come from a fixed seed, so that
            // they differ (uniqueItems) and still never change.
            let mut seeded = SeededRng::seed_from_u64(tries as u64);
            let varied = Maker { fixed: false, ..*self };
            let value = match (schema.prefix_items.get(index).copied().or(schema.items), self.fixed && index > 0) {
                (Some(item), false) => self.make(item, rng, depth + 1),
                (Some(item), true) => varied.make(item, &mut seeded, depth + 1),
                (None, _) => Value::String(if self.fixed { "string".into() } else { word(rng) }),
            };
            if schema.unique_items && items.iter().any(|v| json_equal(v, &value)) {
                continue;
            }
            items.push(value);
        }
        Value::Array(items)
    }

    fn object(&self, schema: &Schema, rng: &mut impl Rng, depth: usize) -> Value {
        let mut map = Map::new();
        for (name, property) in &schema.properties {
            let p = self.schemas.get(*property);
            let hidden = (self.direction == Direction::Request && p.read_only)
                || (self.direction == Direction::Response && p.write_only);
            if hidden {
                continue;
            }
            let required = schema.required.contains(name);
            // Optional properties: always near the top (a client wants to
            // see the answer's shape), often deeper, never past the bound.
            let include = required || (depth < MAX_DEPTH && (self.fixed || depth < 2 || rng.random_bool(0.7)));
            if include {
                map.insert(name.clone(), self.make(*property, rng, depth + 1));
            }
        }
        let wanted = schema.min_properties.unwrap_or(0) as usize;
        let extra = match schema.additional_properties {
            Additional::Schema(extra) => Some(extra),
            _ => None,
        };
        let mut index = 0;
        let extra_count = if schema.properties.is_empty() && extra.is_some() && depth < MAX_DEPTH && !self.fixed {
            rng.random_range(0..=2)
        } else {
            0
        };
        while (map.len() < wanted || index < extra_count)
            && index < 1000
            && schema.additional_properties != Additional::Forbidden
        {
            let key = format!("key{index}");
            let value = match extra {
                Some(extra) => self.make(extra, rng, depth + 1),
                None => Value::String("value".into()),
            };
            map.entry(key).or_insert(value);
            index += 1;
        }
        // Required names the schema gives no property for.
        for name in &schema.required {
            if !schema.properties.iter().any(|(n, _)| n == name) {
                map.entry(name.clone()).or_insert(Value::String("value".into()));
            }
        }
        Value::Object(map)
    }
}

/// A schema without `type`: what its keywords suggest.
fn infer_type(schema: &Schema) -> Type {
    if !schema.properties.is_empty() || schema.additional_properties != Additional::Any || !schema.required.is_empty() {
        Type::Object
    } else if schema.items.is_some() || !schema.prefix_items.is_empty() {
        Type::Array
    } else if schema.minimum.is_some() || schema.maximum.is_some() || schema.multiple_of.is_some() {
        Type::Number
    } else {
        Type::String
    }
}

/// One schema's constraints added to another's (for allOf).
fn merge(into: &mut Schema, part: Schema) {
    into.types = match (into.types.take(), part.types) {
        (Some(a), Some(b)) => {
            let both: Vec<Type> = a
                .iter()
                .copied()
                .filter(|t| b.contains(t) || (*t == Type::Integer && b.contains(&Type::Number)))
                .collect();
            Some(if both.is_empty() { a } else { both })
        }
        (a, b) => a.or(b),
    };
    into.format = into.format.take().or(part.format);
    into.enumeration = into.enumeration.take().or(part.enumeration);
    into.constant = into.constant.take().or(part.constant);
    let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.minimum = max(into.minimum, part.minimum);
    into.maximum = min(into.maximum, part.maximum);
    into.exclusive_minimum = max(into.exclusive_minimum, part.exclusive_minimum);
    into.exclusive_maximum = min(into.exclusive_maximum, part.exclusive_maximum);
    into.multiple_of = into.multiple_of.or(part.multiple_of);
    into.min_length = into.min_length.max(part.min_length);
    into.max_length = match (into.max_length, part.max_length) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.pattern = into.pattern.take().or(part.pattern);
    into.items = into.items.or(part.items);
    if into.prefix_items.is_empty() {
        into.prefix_items = part.prefix_items;
    }
    into.min_items = into.min_items.max(part.min_items);
    into.max_items = match (into.max_items, part.max_items) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.unique_items |= part.unique_items;
    for (name, id) in part.properties {
        if !into.properties.iter().any(|(n, _)| *n == name) {
            into.properties.push((name, id));
        }
    }
    for name in part.required {
        if !into.required.contains(&name) {
            into.required.push(name);
        }
    }
    if part.additional_properties != Additional::Any && into.additional_properties == Additional::Any {
        into.additional_properties = part.additional_properties;
    }
    into.min_properties = into.min_properties.max(part.min_properties);
    into.max_properties = into.max_properties.or(part.max_properties);
    if into.any_of.is_empty() {
        into.any_of = part.any_of;
    }
    if into.one_of.is_empty() {
        into.one_of = part.one_of;
    }
    into.not = into.not.or(part.not);
    into.example = into.example.take().or(part.example);
    into.default = into.default.take().or(part.default);
    into.never |= part.never;
}

fn word(rng: &mut impl Rng) -> String {
    const WORDS: [&str; 16] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
        "mike", "november", "oscar", "papa",
    ];
    WORDS[rng.random_range(0..WORDS.len())].to_string()
}

/// A string matching `pattern`, where rand_regex can make one: anchors,
/// which it does not take, are dropped first (OpenAPI patterns are
/// searches, and `^...$` the usual way to write a whole-string one).
fn from_pattern(pattern: &str, rng: &mut impl Rng, fixed: bool) -> Option<String> {
    let core = pattern.strip_prefix('^').unwrap_or(pattern);
    let core = match core.strip_suffix('$') {
        Some(rest) if !rest.ends_with('\\') => rest,
        _ => core,
    };
    let mut parser = regex_syntax::ParserBuilder::new().build();
    let hir = parser.parse(core).ok()?;
    let generator = rand_regex::Regex::with_hir(hir, 8).ok()?;
    let text: String = if fixed {
        let mut seeded = SeededRng::seed_from_u64(0);
        seeded.sample(&generator)
    } else {
        rng.sample(&generator)
    };
    regex::Regex::new(pattern).ok()?.is_match(&text).then_some(text)
}

fn format_sample(format: &str, rng: &mut impl Rng, fixed: bool) -> Option<String> {
    let n = |rng: &mut dyn FnMut(u32) -> u32, upto: u32| rng(upto);
    let mut pick = |upto: u32| if fixed { 0 } else { rng.random_range(0..upto) };
    Some(match format {
        "date-time" => format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            24 + n(&mut pick, 3),
            1 + n(&mut pick, 12),
            1 + n(&mut pick, 28),
            n(&mut pick, 24),
            n(&mut pick, 60),
            n(&mut pick, 60)
        ),
        "date" => format!("20{:02}-{:02}-{:02}", 24 + pick(3), 1 + pick(12), 1 + pick(28)),
        "time" => format!("{:02}:{:02}:{:02}Z", pick(24), pick(60), pick(60)),
        "email" => format!("user{}@example.com", pick(1000)),
        "uuid" => {
            if fixed {
                "3fa85f64-5717-4562-b3fc-2c963f66afa6".to_string()
            } else {
                let mut hex = String::new();
                for _ in 0..32 {
                    hex.push(char::from_digit(pick(16), 16).unwrap_or('0'));
                }
                format!("{}-{}-4{}-a{}-{}", &hex[..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
            }
        }
        "uri" | "url" => format!("https://example.com/{}", pick(1000)),
        "hostname" => format!("host{}.example.com", pick(100)),
        "ipv4" => format!("192.0.2.{}", 1 + pick(254)),
        "ipv6" => format!("2001:db8::{:x}", 1 + pick(0xfffe)),
        "byte" => data_encoding::BASE64.encode(format!("berth{}", pick(1000)).as_bytes()),
        "password" => "********".to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::validate::validate;
    use super::*;
    use serde_json::json;

    fn schemas() -> (Schemas, Vec<SchemaId>) {
        let mut s = Schemas::default();
        let mut ids = Vec::new();
        let string = s.add(Schema {
            types: Some(vec![Type::String]),
            min_length: Some(3),
            max_length: Some(12),
            ..Schema::default()
        });
        ids.push(string);
        for format in ["date-time", "date", "time", "email", "uuid", "uri", "hostname", "ipv4", "ipv6", "byte"] {
            ids.push(s.add(Schema {
                types: Some(vec![Type::String]),
                format: Some(format.into()),
                ..Schema::default()
            }));
        }
        ids.push(s.add(Schema {
            types: Some(vec![Type::String]),
            pattern: Some("^[A-Z]{2}-[0-9]{3}$".into()),
            ..Schema::default()
        }));
        let int = s.add(Schema {
            types: Some(vec![Type::Integer]),
            minimum: Some(5.0),
            exclusive_maximum: Some(9.0),
            ..Schema::default()
        });
        ids.push(int);
        ids.push(s.add(Schema {
            types: Some(vec![Type::Integer]),
            multiple_of: Some(7.0),
            minimum: Some(-20.0),
            maximum: Some(20.0),
            ..Schema::default()
        }));
        ids.push(s.add(Schema {
            types: Some(vec![Type::Number]),
            exclusive_minimum: Some(0.0),
            maximum: Some(1.0),
            ..Schema::default()
        }));
        ids.push(s.add(Schema { enumeration: Some(vec![json!("a"), json!(2), json!(null)]), ..Schema::default() }));
        let nullable = s.add(Schema { types: Some(vec![Type::String, Type::Null]), ..Schema::default() });
        let read_only = s.add(Schema { types: Some(vec![Type::Integer]), read_only: true, ..Schema::default() });
        let tags = s.add(Schema {
            types: Some(vec![Type::Array]),
            items: Some(string),
            min_items: Some(2),
            max_items: Some(4),
            unique_items: true,
            ..Schema::default()
        });
        let pet = s.add(Schema {
            types: Some(vec![Type::Object]),
            properties: vec![
                ("id".into(), read_only),
                ("name".into(), string),
                ("tag".into(), nullable),
                ("tags".into(), tags),
            ],
            required: vec!["id".into(), "name".into()],
            additional_properties: Additional::Forbidden,
            ..Schema::default()
        });
        ids.push(pet);
        let extra = s.add(Schema {
            types: Some(vec![Type::Object]),
            properties: vec![("age".into(), int)],
            required: vec!["age".into()],
            ..Schema::default()
        });
        // (pet forbids other properties, so it cannot be a part of an allOf that adds one)
        let named = s.add(Schema {
            types: Some(vec![Type::Object]),
            properties: vec![("name".into(), string)],
            required: vec!["name".into()],
            ..Schema::default()
        });
        ids.push(s.add(Schema { all_of: vec![named, extra], ..Schema::default() }));
        ids.push(s.add(Schema { one_of: vec![string, int], ..Schema::default() }));
        ids.push(s.add(Schema { any_of: vec![pet, int], ..Schema::default() }));
        let tree = s.add(Schema::default());
        let children = s.add(Schema { types: Some(vec![Type::Array]), items: Some(tree), ..Schema::default() });
        s.nodes[tree.0 as usize] = Schema {
            types: Some(vec![Type::Object]),
            properties: vec![("name".into(), string), ("children".into(), children)],
            required: vec!["name".into(), "children".into()],
            ..Schema::default()
        };
        ids.push(tree);
        (s, ids)
    }

    #[test]
    fn generated_values_validate_and_repeat_with_a_seed() {
        let (schemas, ids) = schemas();
        for &id in &ids {
            for seed in 0..300u64 {
                for direction in [Direction::Response, Direction::Request] {
                    let mut rng = rng_for(seed, &[b"GET", b"/x"]);
                    let value = generate(&schemas, id, &mut rng, direction);
                    let mut failures = Vec::new();
                    validate(&schemas, id, &value, direction, "", &mut failures);
                    assert!(failures.is_empty(), "schema {id:?} seed {seed}: {value} fails: {failures:?}");
                }
            }
            let fixed = static_value(&schemas, id, Direction::Response);
            assert!(super::super::validate::is_valid(&schemas, id, &fixed, Direction::Response), "{id:?}: {fixed}");
        }
        let (a, b) = (rng_for(7, &[b"GET", b"/pets/1"]), rng_for(7, &[b"GET", b"/pets/1"]));
        let pet = ids[ids.len() - 5];
        assert_eq!(
            generate(&schemas, pet, &mut { a }, Direction::Response),
            generate(&schemas, pet, &mut { b }, Direction::Response)
        );
        let values: Vec<Value> =
            (0..20).map(|s| generate(&schemas, pet, &mut rng_for(s, &[b"x"]), Direction::Response)).collect();
        assert!(values.windows(2).any(|w| w[0] != w[1]), "different seeds give different values");
    }

    #[test]
    fn unsatisfiable_schemas_still_end() {
        let mut s = Schemas::default();
        let impossible = s.add(Schema {
            types: Some(vec![Type::Integer]),
            minimum: Some(10.0),
            maximum: Some(1.0),
            ..Schema::default()
        });
        let never = s.add(Schema { never: true, ..Schema::default() });
        let one = s.add(Schema { enumeration: Some(vec![json!(1)]), ..Schema::default() });
        let tight = s.add(Schema {
            types: Some(vec![Type::Array]),
            items: Some(one),
            min_items: Some(3),
            unique_items: true,
            ..Schema::default()
        });
        for id in [impossible, never, tight] {
            let _ = generate(&s, id, &mut rng_for(1, &[]), Direction::Response);
        }
    }
}
