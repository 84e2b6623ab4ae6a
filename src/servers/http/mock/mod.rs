//! `berth mock`: a mock HTTP API from an OpenAPI document or a routes
//! file, one handler on the HTTP core.
//!
//! - [`model`]: the API as the mock sees it, whatever the input was;
//! - [`spec`]: the loaders (files, `$ref`s, OpenAPI 3.x, Swagger 2.0, routes);
//! - [`schema`]: generating and validating values.

pub mod check;
pub mod faults;
pub mod handler;
pub mod journal;
pub mod model;
pub mod prefer;
pub mod proxy;
pub mod reload;
pub mod respond;
pub mod router;
pub mod schema;
pub mod spec;
