//! The reconcile engine's pure core: spec → desired resource graph, `diff(desired, observed)`
//! over managed fields only, and `plan(diff)` → ordered actions. No I/O here; the AWS
//! adapters (in `aws/`) observe and apply. What the engine knows about each kind of resource
//! is in one rules entry per kind ([`kinds`]).

pub mod diff;
pub mod graph;
pub mod kinds;
pub mod plan;
mod render;
pub mod resource;
pub mod values;

pub use resource::*;

#[cfg(test)]
#[path = "tests/fixtures.rs"]
mod fixtures;
