//! Plumb's domain: the Environment model and its validation, derived AWS names, and the
//! Postgres store.

pub mod aws;
pub mod engine;
pub mod names;
pub mod reconcile;
pub mod spec;
pub mod store;
pub mod validate;
