//! Builders shared by the engine's unit tests.

use serde_json::Value;

use crate::engine::resource::{Desired, Fields, Reference, ResourceId, ResourceKind};

/// A JSON object as a field map.
pub(crate) fn fields(value: Value) -> Fields {
    match value {
        Value::Object(map) => map.into_iter().collect(),
        other => panic!("not an object: {other}"),
    }
}

/// A desired resource with only managed fields.
pub(crate) fn desired(kind: ResourceKind, name: &str, f: Value) -> Desired {
    let mut d = Desired::new(ResourceId::new(kind, name), vec![]);
    d.fields = fields(f);
    d
}

/// Writes each reference of `d` into `fields` as AWS would report it right after creation,
/// each target's ARN being `arn:{target id}`.
pub(crate) fn echo_references(d: &Desired, fields: &mut Fields) {
    for (field, r) in &d.references {
        let arns: Vec<String> = r
            .reference
            .targets()
            .iter()
            .map(|t| format!("arn:{t}"))
            .collect();
        let value = match &r.reference {
            Reference::Arn(_) => Value::from(arns.first().cloned()),
            Reference::ArnSet { .. } => Value::from(arns),
        };
        fields.insert(field.clone(), value);
    }
}
