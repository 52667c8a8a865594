//! Plumb's domain: the Environment model and its validation, derived AWS names, and the
//! Postgres store.

pub mod engine;
pub mod names;
pub mod spec;
pub mod store;
pub mod validate;
