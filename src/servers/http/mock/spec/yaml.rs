//! YAML (and JSON, which is YAML) into `serde_json::Value`, from the
//! parser's events rather than a loaded tree, for three reasons:
//!
//! - aliases are expanded under a budget of nodes, so a "billion laughs"
//!   document is refused instead of filling memory;
//! - the same walk finds the line of a JSON pointer, which error messages
//!   name ([`line_of`]), without keeping positions for every node;
//! - scalars are resolved once, by YAML 1.2's core schema (what OpenAPI
//!   tools expect: `yes` is a string, `1e3` a number).

use rustc_hash::FxHashMap;
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// Most nodes a document may have, aliases expanded.
pub const MAX_NODES: usize = 20_000_000;

/// Most nodes aliases may add (copies of anchored nodes): far above what
/// specs that share pieces by anchors use, far below a memory blow-up.
pub const MAX_ALIAS_NODES: usize = 2_000_000;

/// Why a YAML text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub message: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

/// Parses the first document of `text`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut walker = Walker::new(text, None);
    walker.document()
}

/// The line (1-based) where the node at `pointer` (RFC 6901, unescaped
/// tokens) starts, if the text has it; for a mapping entry, the line of
/// its key.
pub fn line_of(text: &str, tokens: &[String]) -> Option<u32> {
    let mut walker = Walker::new(text, Some(tokens));
    let _ = walker.document();
    walker.found
}

struct Walker<'t> {
    parser: Parser<'t, saphyr_parser::StrInput<'t>>,
    anchors: FxHashMap<usize, (Value, usize)>,
    nodes: usize,
    /// Nodes added by aliases, against [`MAX_ALIAS_NODES`].
    alias_nodes: usize,
    /// In line-finding mode: the pointer sought, the path so far, and the
    /// line once found.
    target: Option<&'t [String]>,
    path: Vec<String>,
    found: Option<u32>,
}

impl<'t> Walker<'t> {
    fn new(text: &'t str, target: Option<&'t [String]>) -> Walker<'t> {
        Walker {
            parser: Parser::new_from_str(text),
            anchors: FxHashMap::default(),
            nodes: 0,
            alias_nodes: 0,
            target,
            path: Vec::new(),
            found: None,
        }
    }

    fn next(&mut self) -> Result<(Event<'t>, u32, u32), YamlError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, span.start.line() as u32, span.start.col() as u32 + 1)),
            Some(Err(error)) => Err(YamlError {
                message: error.info().to_string(),
                line: Some(error.marker().line() as u32),
                column: Some(error.marker().col() as u32 + 1),
            }),
            None => Err(YamlError { message: "the document ends early".into(), line: None, column: None }),
        }
    }

    fn document(&mut self) -> Result<Value, YamlError> {
        loop {
            let (event, line, column) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => {}
                Event::StreamEnd => return Ok(Value::Null),
                other => {
                    if self.target.is_some_and(|t| t.is_empty()) {
                        self.found = Some(line);
                    }
                    return self.node(other, line, column);
                }
            }
        }
    }

    fn count(&mut self, n: usize, line: u32) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                message: format!(
                    "more than {MAX_NODES} nodes once aliases are expanded (an alias bomb?); berth refuses it"
                ),
                line: Some(line),
                column: None,
            });
        }
        Ok(())
    }

    fn on_path(&self) -> bool {
        self.target.is_some_and(|t| t.len() >= self.path.len() && t[..self.path.len()] == self.path[..])
    }

    fn node(&mut self, event: Event<'t>, line: u32, column: u32) -> Result<Value, YamlError> {
        let start = self.nodes;
        self.count(1, line)?;
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| t.suffix.clone());
                (scalar(&text, style, tag.as_deref()), anchor)
            }
            Event::Alias(id) => {
                let Some(size) = self.anchors.get(&id).map(|(_, size)| *size) else {
                    return Err(YamlError {
                        message: "an alias to an unknown anchor".into(),
                        line: Some(line),
                        column: Some(column),
                    });
                };
                // Counted before the copy is made, and against a budget of
                // its own: a bomb is refused before it takes the memory.
                self.count(size, line)?;
                self.alias_nodes += size;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(YamlError {
                        message: format!(
                            "aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?); berth refuses it"
                        ),
                        line: Some(line),
                        column: Some(column),
                    });
                }
                return Ok(self.anchors[&id].0.clone());
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, line, column) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let tracking = self.on_path();
                    if tracking {
                        self.path.push(items.len().to_string());
                        if self.target.is_some_and(|t| t[..] == self.path[..]) {
                            self.found.get_or_insert(line);
                        }
                    }
                    items.push(self.node(event, line, column)?);
                    if tracking {
                        self.path.pop();
                    }
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                loop {
                    let (event, key_line, key_column) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = match self.node(event, key_line, key_column)? {
                        Value::String(key) => key,
                        Value::Null => "null".into(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => {
                            return Err(YamlError {
                                message: "a mapping key that is not a scalar".into(),
                                line: Some(key_line),
                                column: Some(key_column),
                            })
                        }
                    };
                    let (event, line, column) = self.next()?;
                    let tracking = self.on_path();
                    if tracking {
                        self.path.push(key.clone());
                        if self.target.is_some_and(|t| t[..] == self.path[..]) {
                            self.found.get_or_insert(key_line);
                        }
                    }
                    let value = self.node(event, line, column)?;
                    if tracking {
                        self.path.pop();
                    }
                    map.insert(key, value);
                }
                (Value::Object(map), anchor)
            }
            _ => {
                return Err(YamlError {
                    message: "unexpected YAML structure".into(),
                    line: Some(line),
                    column: Some(column),
                })
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), self.nodes - start));
        }
        Ok(value)
    }
}

/// A scalar by the core schema: plain `null`/`~`/empty, booleans, integers
/// (decimal, 0x, 0o) and floats (with .inf and .nan as strings, which JSON
/// cannot hold); anything quoted or tagged `!!str` is a string.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::String(text.to_string()),
        Some("int") | Some("float") | Some("bool") | Some("null") => {}
        _ if style != ScalarStyle::Plain => return Value::String(text.to_string()),
        _ => {}
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = text.parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(n) = i64::from_str_radix(hex, 16) {
            return Value::Number(n.into());
        }
    }
    if let Some(octal) = text.strip_prefix("0o") {
        if let Ok(n) = i64::from_str_radix(octal, 8) {
            return Value::Number(n.into());
        }
    }
    let looks_numeric = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && unsigned.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if looks_numeric {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_becomes_json_by_the_core_schema() {
        let text = "a: 1\nb: [true, ~, 'x', \"2\", 1.5, 0x10, yes, 1e3]\nc:\n  d: &anchor {e: f}\n  g: *anchor\n";
        let value = parse(text).unwrap();
        assert_eq!(
            value,
            json!({"a": 1, "b": [true, null, "x", "2", 1.5, 16, "yes", 1000.0], "c": {"d": {"e": "f"}, "g": {"e": "f"}}})
        );
        assert_eq!(parse("{\"json\": [1, 2, {\"x\": null}]}").unwrap(), json!({"json": [1, 2, {"x": null}]}));
    }

    #[test]
    fn lines_of_pointers_are_found() {
        let text =
            "openapi: 3.0.0\npaths:\n  /pets:\n    get:\n      responses:\n        '200':\n          description: ok\n";
        let tokens = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(line_of(text, &tokens(&["paths", "/pets", "get"])), Some(4));
        assert_eq!(line_of(text, &tokens(&["paths", "/pets", "get", "responses", "200", "description"])), Some(7));
        assert_eq!(line_of(text, &tokens(&["paths", "/nope"])), None);
        assert_eq!(line_of("a:\n  - x\n  - y\n", &tokens(&["a", "1"])), Some(3));
    }

    #[test]
    fn syntax_errors_have_lines_and_alias_bombs_are_refused() {
        let error = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(error.line.is_some(), "{error:?}");
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let previous = format!("*a{}", level - 1);
            bomb.push_str(&format!("a{level}: &a{level} [{}]\n", vec![previous; 10].join(", ")));
        }
        let error = parse(&bomb).unwrap_err();
        assert!(error.message.contains("alias bomb"), "{error:?}");
    }
}
