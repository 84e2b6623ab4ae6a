//! Loading an API: OpenAPI 3.0/3.1, Swagger 2.0 or a routes file, in JSON or
//! YAML, across files, into the [`super::model::Api`] the mock serves.
