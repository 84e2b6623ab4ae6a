//! `berth mock`: a mock HTTP API from an OpenAPI document or a routes
//! file, one handler on the HTTP core.
//!
//! - [`model`]: the API as the mock sees it, whatever the input was;
//! - [`spec`]: the loaders (files, `$ref`s, OpenAPI 3.x, Swagger 2.0, routes);
//! - [`schema`]: generating and validating values.

// Until the command is wired in (this session), parts are unused.
#![allow(dead_code)]

pub mod model;
pub mod schema;
pub mod spec;
