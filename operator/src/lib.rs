//! Plumb's domain: the Environment model and its validation, derived AWS names, the
//! Postgres store, reconciliation and the controller that runs it continuously.

pub mod alerts;
pub mod aws;
pub mod cloudtrail;
pub mod controller;
pub mod drift;
pub mod engine;
pub mod metrics;
pub mod names;
pub mod reconcile;
pub mod spec;
pub mod store;
pub mod validate;
