//! Which operation a request is for: path templates (`/pets/{petId}`,
//! `/files/{name}.{ext}`) matched segment by segment, a concrete segment
//! preferred over a templated one (OpenAPI: `/pets/mine` before
//! `/pets/{petId}`), then the method. Templates are grouped by segment
//! count, so a request is compared with the few that can match.

use rustc_hash::FxHashMap;

use super::model::Operation;
use crate::servers::http::request::percent_decoded_text;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// The operation, and its path parameters (name, percent-decoded value).
    Found {
        operation: usize,
        params: Vec<(String, String)>,
    },
    /// The path is known, not with this method: these are (for Allow).
    WrongMethod {
        allowed: Vec<String>,
    },
    NotFound,
}

/// How concrete a match is, segment by segment (see [`matches`]).
type Rank = Vec<u8>;

/// Path parameters: name and percent-decoded value.
type Params = Vec<(String, String)>;

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
    /// Text and parameters in one segment: `{name}.{ext}`, `v{version}`.
    Mixed(Vec<Part>),
}

#[derive(Debug)]
enum Part {
    Text(String),
    Param(String),
}

#[derive(Debug)]
struct Template {
    segments: Vec<Segment>,
    /// (method, operation index); method "*" is any.
    methods: Vec<(String, usize)>,
}

#[derive(Debug, Default)]
pub struct Router {
    templates: Vec<Template>,
    by_length: FxHashMap<usize, Vec<usize>>,
    base_paths: Vec<String>,
}

impl Router {
    pub fn new(operations: &[Operation], base_paths: &[String]) -> Router {
        let mut router = Router { base_paths: base_paths.to_vec(), ..Router::default() };
        let mut by_path: FxHashMap<&str, usize> = FxHashMap::default();
        for (index, operation) in operations.iter().enumerate() {
            let method = match operation.method.to_ascii_uppercase().as_str() {
                "ANY" => "*".to_string(),
                other => other.to_string(),
            };
            let template = *by_path.entry(operation.path.as_str()).or_insert_with(|| {
                router.templates.push(Template { segments: parse_template(&operation.path), methods: Vec::new() });
                router.templates.len() - 1
            });
            router.templates[template].methods.push((method, index));
        }
        for (index, template) in router.templates.iter().enumerate() {
            router.by_length.entry(template.segments.len()).or_default().push(index);
        }
        router
    }

    /// Routes a request's path (the target without its query, as sent).
    pub fn route(&self, method: &str, raw_path: &str) -> Routed {
        let decoded: Vec<String> = split(raw_path).map(percent_decoded_text).collect();
        let mut result = self.route_segments(method, &decoded);
        if result == Routed::NotFound {
            for base in &self.base_paths {
                let base: Vec<String> = split(base).map(percent_decoded_text).collect();
                if decoded.len() >= base.len() && decoded[..base.len()] == base[..] {
                    result = self.route_segments(method, &decoded[base.len()..]);
                    if result != Routed::NotFound {
                        break;
                    }
                }
            }
        }
        if result == Routed::NotFound && decoded.len() > 1 && decoded.last().is_some_and(|s| s.is_empty()) {
            // "/pets/" for "/pets".
            return self.route(method, raw_path.trim_end_matches('/'));
        }
        result
    }

    fn route_segments(&self, method: &str, segments: &[String]) -> Routed {
        let Some(candidates) = self.by_length.get(&segments.len()) else { return Routed::NotFound };
        let mut best: Option<(Rank, usize, Params)> = None;
        for &index in candidates {
            let template = &self.templates[index];
            let Some((rank, params)) = matches(&template.segments, segments) else { continue };
            if best.as_ref().is_none_or(|(best_rank, _, _)| rank > *best_rank) {
                best = Some((rank, index, params));
            }
        }
        let Some((_, index, params)) = best else { return Routed::NotFound };
        let template = &self.templates[index];
        let find = |wanted: &str| {
            template.methods.iter().find(|(m, _)| m.eq_ignore_ascii_case(wanted)).map(|&(_, operation)| operation)
        };
        let operation = find(method)
            .or_else(|| method.eq_ignore_ascii_case("HEAD").then(|| find("GET")).flatten())
            .or_else(|| find("*"));
        match operation {
            Some(operation) => Routed::Found { operation, params },
            None => Routed::WrongMethod { allowed: template.methods.iter().map(|(m, _)| m.clone()).collect() },
        }
    }
}

/// The segments of a path: "/a/b" → "a", "b"; "/" → "".
fn split(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

fn parse_template(path: &str) -> Vec<Segment> {
    split(path)
        .map(|segment| {
            let mut parts = Vec::new();
            let mut rest = segment;
            while !rest.is_empty() {
                match (rest.find('{'), rest.find('}')) {
                    (Some(0), Some(close)) => {
                        parts.push(Part::Param(rest[1..close].to_string()));
                        rest = &rest[close + 1..];
                    }
                    (Some(open), _) => {
                        parts.push(Part::Text(percent_decoded_text(&rest[..open])));
                        rest = &rest[open..];
                        if !rest[1..].contains('}') {
                            parts.push(Part::Text(rest.to_string()));
                            rest = "";
                        }
                    }
                    (None, _) => {
                        parts.push(Part::Text(percent_decoded_text(rest)));
                        rest = "";
                    }
                }
            }
            match parts.as_slice() {
                [] => Segment::Literal(String::new()),
                [Part::Text(text)] => Segment::Literal(text.clone()),
                [Part::Param(name)] => Segment::Param(name.clone()),
                _ => Segment::Mixed(parts),
            }
        })
        .collect()
}

/// Whether the segments match, with the match's rank (per segment: 2
/// literal, 1 mixed, 0 parameter; compared left to right) and the values.
fn matches(template: &[Segment], segments: &[String]) -> Option<(Rank, Params)> {
    let mut rank = Vec::with_capacity(template.len());
    let mut params = Vec::new();
    for (segment, value) in template.iter().zip(segments) {
        match segment {
            Segment::Literal(text) => {
                if text != value {
                    return None;
                }
                rank.push(2);
            }
            Segment::Param(name) => {
                if value.is_empty() {
                    return None;
                }
                params.push((name.clone(), value.clone()));
                rank.push(0);
            }
            Segment::Mixed(parts) => {
                match_parts(parts, value, &mut params)?;
                rank.push(1);
            }
        }
    }
    Some((rank, params))
}

/// A mixed segment: each parameter takes text up to the next literal part
/// (the last occurrence, for a parameter before the final text, so that
/// `{name}.{ext}` reads "a.b.json" as "a.b" and "json"... unless more
/// parts follow); a parameter may not be empty.
fn match_parts(parts: &[Part], mut value: &str, params: &mut Vec<(String, String)>) -> Option<()> {
    let mut index = 0;
    while index < parts.len() {
        match &parts[index] {
            Part::Text(text) => value = value.strip_prefix(text.as_str())?,
            Part::Param(name) => {
                let taken = match parts.get(index + 1) {
                    None => value.len(),
                    Some(Part::Text(next)) => {
                        // The last text of the segment: the parameter before it takes
                        // as much as it can ("a.b.json" → "a.b", "json").
                        let is_last_text = !parts[index + 2..].iter().any(|p| matches!(p, Part::Text(_)));
                        let at = if is_last_text { value.rfind(next.as_str())? } else { value.find(next.as_str())? };
                        if is_last_text && index + 2 == parts.len() && at + next.len() != value.len() {
                            return None;
                        }
                        at
                    }
                    // Two parameters side by side: the first takes one character.
                    Some(Part::Param(_)) => value.chars().next()?.len_utf8(),
                };
                if taken == 0 {
                    return None;
                }
                params.push((name.clone(), value[..taken].to_string()));
                value = &value[taken..];
            }
        }
        index += 1;
    }
    value.is_empty().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::http::mock::model::Location;

    fn operation(method: &str, path: &str) -> Operation {
        Operation {
            method: method.into(),
            path: path.into(),
            operation_id: None,
            parameters: vec![],
            request_body: None,
            responses: vec![],
            security: vec![],
            delay: None,
            fail: vec![],
            location: Location::default(),
        }
    }

    fn found(routed: Routed) -> (usize, Vec<(String, String)>) {
        match routed {
            Routed::Found { operation, params } => (operation, params),
            other => panic!("{other:?}"),
        }
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn concrete_paths_win_and_parameters_are_decoded() {
        let operations = [
            operation("GET", "/pets/{petId}"),
            operation("GET", "/pets/mine"),
            operation("DELETE", "/pets/{petId}"),
            operation("GET", "/pets"),
            operation("GET", "/files/{name}.{ext}"),
            operation("GET", "/v{version}/status"),
            operation("ANY", "/anything/{rest}"),
        ];
        let router = Router::new(&operations, &["/api/v1".into()]);
        assert_eq!(found(router.route("GET", "/pets/mine")), (1, vec![]));
        assert_eq!(found(router.route("GET", "/pets/a%20b")), (0, pairs(&[("petId", "a b")])));
        assert_eq!(found(router.route("DELETE", "/pets/7")).0, 2);
        assert_eq!(found(router.route("HEAD", "/pets")).0, 3, "HEAD goes to GET");
        assert_eq!(found(router.route("GET", "/pets/")).0, 3, "a trailing slash");
        assert_eq!(found(router.route("GET", "/api/v1/pets/3")), (0, pairs(&[("petId", "3")])));
        assert_eq!(found(router.route("GET", "/files/a.b.json")).1, pairs(&[("name", "a.b"), ("ext", "json")]));
        assert_eq!(found(router.route("GET", "/v2/status")).1, pairs(&[("version", "2")]));
        assert_eq!(found(router.route("PATCH", "/anything/x")).0, 6);
        match router.route("POST", "/pets/7") {
            Routed::WrongMethod { allowed } => assert_eq!(allowed, ["GET", "DELETE"]),
            other => panic!("{other:?}"),
        }
        for missing in ["/", "/pets/7/toys", "/files/noext", "/api/v2/pets", "/x"] {
            assert_eq!(router.route("GET", missing), Routed::NotFound, "{missing}");
        }
    }
}
