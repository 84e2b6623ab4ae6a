//! Schemas at work: values generated from a schema (seeded), values
//! validated against one (with JSON pointers), and parameter text turned
//! into values by the schema and the parameter's style.

pub mod generate;
pub mod params;
pub mod validate;
