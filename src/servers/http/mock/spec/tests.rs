//! The loader on real files: the fixtures of tests/fixtures/mock/loader/
//! and inputs made in a scratch directory (the big and hostile ones).

use std::path::{Path, PathBuf};

use super::load;
use crate::servers::http::mock::model::{Api, ParameterIn, SourceKind, StatusKey};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mock/loader").join(name)
}

fn scratch(name: &str, text: &[u8]) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("berth-loader-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

fn op<'a>(api: &'a Api, method: &str, path: &str) -> &'a crate::servers::http::mock::model::Operation {
    api.operations.iter().find(|o| o.method == method && o.path == path).expect("operation")
}

#[test]
fn a_multi_file_spec_resolves_relative_refs_and_lists_every_file() {
    let api = load(&fixture("multi/main.yaml")).unwrap();
    assert_eq!(api.source, SourceKind::OpenApi30);
    assert_eq!(api.title, "Multi");
    assert_eq!(api.base_paths, vec!["/v2".to_string()]);
    let names: Vec<String> = api.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["main.yaml", "pets.yaml", "pet.json", "error.yaml"]);
    let list = op(&api, "GET", "/pets");
    assert_eq!(list.operation_id.as_deref(), Some("listPets"));
    // Path-level and operation parameters merged, the operation's winning.
    assert_eq!(list.parameters.len(), 2);
    let limit = list.parameters.iter().find(|p| p.name == "limit").unwrap();
    assert!(limit.required);
    assert_eq!(limit.place, ParameterIn::Query);
    assert_eq!(api.schemas.get(limit.schema.unwrap()).maximum, Some(50.0));
    let statuses: Vec<StatusKey> = list.responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [StatusKey::Exact(200), StatusKey::Default]);
    let array = api.schemas.get(list.responses[0].content[0].schema.unwrap());
    let pet = api.schemas.get(array.items.unwrap());
    assert_eq!(pet.required, ["id"]);
    assert_eq!(pet.properties.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["id", "name"]);
    let name = api.schemas.get(pet.properties[1].1);
    assert!(name.types.as_ref().unwrap().contains(&crate::servers::http::mock::model::Type::Null));
    let error = api.schemas.get(list.responses[1].content[0].schema.unwrap());
    assert_eq!(error.properties.len(), 2);
}

#[test]
fn recursive_schemas_are_cycles_of_ids() {
    let api = load(&fixture("multi/main.yaml")).unwrap();
    let trees = op(&api, "GET", "/trees");
    let tree_id = trees.responses[0].content[0].schema.unwrap();
    let tree = api.schemas.get(tree_id);
    let children = api.schemas.get(tree.properties[0].1);
    assert_eq!(children.items, Some(tree_id), "Tree's children are Trees");
    let forest = api.schemas.get(tree.properties[1].1);
    let forest_trees = api.schemas.get(forest.properties[0].1);
    assert_eq!(forest_trees.items, Some(tree_id), "mutual recursion through Forest");
}

#[test]
fn a_toml_routes_file_becomes_operations_with_literal_bodies() {
    let api = load(&fixture("routes.toml")).unwrap();
    assert_eq!(api.source, SourceKind::Routes);
    let get = op(&api, "GET", "/users/{id}");
    assert_eq!(get.responses[0].status, StatusKey::Exact(200));
    let body = &get.responses[0].content[0];
    assert_eq!(body.media_type, "application/json");
    assert_eq!(body.literal.as_deref(), Some(&b"{\"id\": 1}"[..]));
    assert_eq!(get.responses[0].headers[0].name, "X-Request-Id");
    let post = op(&api, "POST", "/users");
    assert_eq!(post.responses[0].status, StatusKey::Exact(201));
    assert_eq!(post.delay.as_deref(), Some("50ms"));
}

#[test]
fn a_typo_in_a_route_is_an_error_with_its_line() {
    let error = load(&fixture("routes-typo.toml")).unwrap_err().to_string();
    assert!(error.contains("routes-typo.toml:3"), "{error}");
    assert!(error.contains("stauts"), "{error}");
}

#[test]
fn a_pure_ref_cycle_is_an_error_naming_the_place() {
    let error = load(&fixture("cycle.yaml")).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("cycle.yaml:"), "{text}");
    assert!(error.line.is_some(), "{text}");
    assert!(text.contains("#/"), "{text}");
}

#[test]
fn a_ref_to_a_missing_file_names_the_file_line_and_pointer() {
    let error = load(&fixture("missing-ref.yaml")).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("missing-ref.yaml:11"), "{text}");
    assert!(text.contains("nowhere.yaml"), "{text}");
    assert!(text.contains("#/paths/~1a/get/responses/200/content/application~1json/schema/$ref"), "{text}");
}

#[test]
fn missing_files_directories_and_non_utf8_are_refused_in_one_line() {
    let missing = load(Path::new("no-such-spec.yaml")).unwrap_err().to_string();
    assert!(missing.contains("cannot read no-such-spec.yaml") && missing.contains("check the path"), "{missing}");
    let (dir, file) = scratch("latin1.yaml", b"openapi: 3.0.0\ninfo: {title: caf\xe9}\n");
    let error = load(&file).unwrap_err().to_string();
    assert!(error.contains("not UTF-8"), "{error}");
    let error = load(&dir).unwrap_err().to_string();
    assert!(error.contains("is a directory"), "{error}");
    for error in [missing, error] {
        assert!(!error.contains('\n'), "{error}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_documents_and_versions_are_refused() {
    let (dir, file) = scratch("other.yaml", b"name: not a spec\n");
    let error = load(&file).unwrap_err().to_string();
    assert!(error.contains("neither OpenAPI 3.x"), "{error}");
    std::fs::write(&file, "openapi: 4.0.0\ninfo: {title: x}\n").unwrap();
    let error = load(&file).unwrap_err().to_string();
    assert!(error.contains("other.yaml:1") && error.contains("not supported"), "{error}");
    std::fs::write(&file, "swagger: '1.2'\n").unwrap();
    assert!(load(&file).unwrap_err().to_string().contains("Swagger 1.2 is not supported"));
    std::fs::write(&file, "openapi: 3.0.0\ninfo: {title: x}\npaths: [1, 2]\n").unwrap();
    let error = load(&file).unwrap_err().to_string();
    assert!(error.contains("other.yaml:3") && error.contains("'paths' must be a mapping"), "{error}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn syntax_errors_name_the_line() {
    let (dir, file) = scratch("broken.json", b"{\n  \"openapi\": \"3.0.0\",\n  \"info\": {\n}\n,,\n");
    let error = load(&file).unwrap_err().to_string();
    assert!(error.contains("broken.json:5") && error.contains("JSON syntax error"), "{error}");
    let yaml = dir.join("broken.yaml");
    std::fs::write(&yaml, "openapi: 3.0.0\ninfo:\n  title: [unclosed\n").unwrap();
    let error = load(&yaml).unwrap_err().to_string();
    assert!(error.contains("YAML syntax error"), "{error}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn remote_refs_are_refused() {
    let (dir, file) = scratch(
        "remote.yaml",
        b"openapi: 3.0.0\ninfo: {title: x}\npaths:\n  /a:\n    $ref: 'https://example.com/a.yaml'\n",
    );
    let error = load(&file).unwrap_err().to_string();
    assert!(error.contains("remote.yaml:5") && error.contains("remote document"), "{error}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_alias_bomb_is_refused() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut previous = 'a';
    for name in 'b'..='j' {
        text.push_str(&format!("{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"));
        previous = name;
    }
    let (dir, file) = scratch("bomb.yaml", text.as_bytes());
    let error = load(&file).unwrap_err().to_string();
    assert!(error.contains("bomb.yaml") && error.contains("alias bomb"), "{error}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_big_spec_loads() {
    // About 50 MB of JSON: many operations, each with its own schema.
    let mut text = String::from("{\"openapi\": \"3.0.3\", \"info\": {\"title\": \"Big\"}, \"paths\": {");
    let mut count = 0;
    while text.len() < 50 * 1024 * 1024 {
        if count > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            "\"/items{count}\": {{\"get\": {{\"responses\": {{\"200\": {{\"description\": \"{}\", \"content\": {{\"application/json\": {{\"schema\": {{\"type\": \"object\", \"properties\": {{\"id\": {{\"type\": \"integer\"}}}}}}}}}}}}}}}}}}",
            "x".repeat(400)
        ));
        count += 1;
    }
    text.push_str("}}");
    let (dir, file) = scratch("big.json", text.as_bytes());
    drop(text);
    let api = load(&file).unwrap();
    assert_eq!(api.operations.len(), count);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn openapi_31_type_arrays_const_prefix_items_and_unsupported_keywords() {
    use crate::servers::http::mock::model::Type;
    let api = load(&fixture("v31.yaml")).unwrap();
    assert_eq!(api.source, SourceKind::OpenApi31);
    let get = op(&api, "GET", "/point");
    assert_eq!(get.delay.as_deref(), Some("20ms"));
    assert_eq!(get.fail, ["10%:500"]);
    assert!(get.security.is_empty());
    assert_eq!(get.responses[0].status, StatusKey::Range(2));
    let point = api.schemas.get(get.responses[0].content[0].schema.unwrap());
    assert_eq!(point.types.as_deref(), Some(&[Type::Object, Type::Null][..]));
    let kind = api.schemas.get(point.properties[0].1);
    assert_eq!(kind.constant, Some(serde_json::json!("point")));
    let pair = api.schemas.get(point.properties[1].1);
    assert_eq!(pair.prefix_items.len(), 2);
    assert_eq!(api.schemas.get(pair.prefix_items[1]).exclusive_minimum, Some(0.0));
    let bad = api.schemas.get(point.properties[2].1);
    assert_eq!(bad.pattern, None);
    let listed: Vec<&str> = api.unsupported.iter().map(|u| u.what.as_str()).collect();
    assert!(listed.iter().any(|w| w.contains("pattern")), "{listed:?}");
    assert!(listed.iter().any(|w| w.contains("if")), "{listed:?}");
}

#[test]
fn swagger_20_base_path_form_data_collection_format_examples_and_security() {
    use crate::servers::http::mock::model::{SecurityKind, Style};
    let api = load(&fixture("swagger.yaml")).unwrap();
    assert_eq!(api.source, SourceKind::Swagger20);
    assert_eq!(api.base_paths, ["/api"]);
    assert_eq!(api.security_schemes[0].kind, SecurityKind::Http { scheme: "basic".into() });
    let get = op(&api, "GET", "/pets");
    assert_eq!(get.security, vec![vec![0]]);
    assert_eq!(get.parameters[0].style, Style::PipeDelimited);
    let media = &get.responses[0].content[0];
    assert_eq!(media.media_type, "application/json");
    assert_eq!(media.example, Some(serde_json::json!([{"id": 1}])));
    let post = op(&api, "POST", "/pets");
    let body = post.request_body.as_ref().expect("formData is a body");
    let types: Vec<&str> = body.content.iter().map(|m| m.media_type.as_str()).collect();
    assert!(types.contains(&"multipart/form-data"), "{types:?}");
    let form = api.schemas.get(body.content[0].schema.unwrap());
    assert_eq!(form.required, ["name"]);
    let photo = api.schemas.get(form.properties[1].1);
    assert_eq!(photo.format.as_deref(), Some("binary"));
}
