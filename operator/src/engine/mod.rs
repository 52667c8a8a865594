//! The reconcile engine's pure core: spec → desired resource graph, `diff(desired, observed)`
//! over managed fields only, and `plan(diff)` → ordered actions. No I/O here; the AWS
//! adapters (in `aws/`) observe and apply.

pub mod diff;
pub mod graph;
pub mod plan;
pub mod resource;

pub use resource::*;

#[cfg(test)]
#[path = "tests/fixtures.rs"]
mod fixtures;
