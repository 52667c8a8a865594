//! Builders shared by the engine's unit tests.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::resource::{Desired, Fields, ResourceId, ResourceKind};

/// A JSON object as a field map.
pub(crate) fn fields(value: Value) -> Fields {
    match value {
        Value::Object(map) => map.into_iter().collect(),
        other => panic!("not an object: {other}"),
    }
}

/// A desired resource with only managed fields.
pub(crate) fn desired(kind: ResourceKind, name: &str, f: Value) -> Desired {
    Desired {
        id: ResourceId::new(kind, name),
        depends_on: vec![],
        fields: fields(f),
        create_only: Fields::new(),
        tags: BTreeMap::new(),
    }
}
