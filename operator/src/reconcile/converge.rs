//! The convergence guard: a field re-applied [`LIMIT`] reconciles in a row without sticking
//! (AWS keeps answering with the old value: a parameter it normalises differently, a
//! modification it silently refuses) stops being applied, and the environment says
//! `NotConverging`, naming the resource and the field, instead of an API-call loop. Plumb
//! keeps observing: once the field matches, or the spec moves to a new generation, the count
//! starts again.

use std::collections::BTreeMap;

use crate::engine::{Action, Change, FieldChange, Plan};
use crate::spec::{EnvironmentStatus, Reapplied};

/// Reconciles in a row a field may be applied without sticking.
pub const LIMIT: u32 = 3;

/// The plan without the updates of fields already applied [`LIMIT`] times in a row for this
/// generation; an update left with no field is `Blocked`, naming the fields.
pub(super) fn guard(plan: Plan, previous: &EnvironmentStatus, generation: i64) -> Plan {
    let actions = plan
        .actions
        .into_iter()
        .map(|action| {
            let Change::Update { fields } = &action.change else {
                return action;
            };
            let counts = counts_of(previous, &action.resource.to_string(), generation);
            let (stuck, keep): (Vec<&FieldChange>, Vec<&FieldChange>) = fields
                .iter()
                .partition(|f| counts.get(&f.field).is_some_and(|n| *n >= LIMIT));
            if stuck.is_empty() {
                return action;
            }
            let change = if keep.is_empty() {
                let names: Vec<&str> = stuck.iter().map(|f| f.field.as_str()).collect();
                Change::Blocked {
                    reason: format!(
                        "NotConverging: {} applied {LIMIT} times without sticking; not applied again until it matches or the spec changes",
                        names.join(", ")
                    ),
                }
            } else {
                Change::Update {
                    fields: keep.into_iter().cloned().collect(),
                }
            };
            Action {
                resource: action.resource,
                change,
            }
        })
        .collect();
    Plan { actions }
}

/// The counts after a run: each field updated now counts one more; a field held back keeps
/// its count; any other field starts again.
pub(super) fn after_run(
    planned: &Plan,
    written: &[(String, Vec<String>)],
    previous: &EnvironmentStatus,
    generation: i64,
) -> BTreeMap<String, Reapplied> {
    let mut out: BTreeMap<String, Reapplied> = BTreeMap::new();
    for (resource, fields) in written {
        let before = counts_of(previous, resource, generation);
        let entry = out.entry(resource.clone()).or_insert_with(|| Reapplied {
            generation,
            fields: BTreeMap::new(),
        });
        for field in fields {
            let n = before.get(field).copied().unwrap_or(0) + 1;
            entry.fields.insert(field.clone(), n);
        }
    }
    // Held back: the resource still differs in the field, so its count stands.
    for action in &planned.actions {
        let resource = action.resource.to_string();
        let Change::Blocked { reason } = &action.change else {
            continue;
        };
        if !reason.starts_with("NotConverging") {
            continue;
        }
        let before = counts_of(previous, &resource, generation);
        let entry = out.entry(resource).or_insert_with(|| Reapplied {
            generation,
            fields: BTreeMap::new(),
        });
        for (field, n) in before.into_iter().filter(|(_, n)| *n >= LIMIT) {
            entry.fields.entry(field).or_insert(n);
        }
    }
    out
}

/// The counts recorded for `resource` in this generation.
fn counts_of(
    previous: &EnvironmentStatus,
    resource: &str,
    generation: i64,
) -> BTreeMap<String, u32> {
    previous
        .resources
        .get(resource)
        .and_then(|r| r.reapplied.as_ref())
        .filter(|r| r.generation == generation)
        .map(|r| r.fields.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::{ResourceId, ResourceKind};
    use crate::spec::ResourceStatus;

    fn update(field: &str) -> Action {
        Action {
            resource: ResourceId::new(ResourceKind::EcsService, "shop-api"),
            change: Change::Update {
                fields: vec![FieldChange {
                    field: field.into(),
                    from: Some(json!(7)),
                    to: Some(json!(2)),
                    effect: None,
                }],
            },
        }
    }

    fn status_with(counts: &[(&str, u32)], generation: i64) -> EnvironmentStatus {
        let mut status = EnvironmentStatus::default();
        let resource = ResourceStatus {
            reapplied: Some(Reapplied {
                generation,
                fields: counts.iter().map(|(f, n)| ((*f).to_owned(), *n)).collect(),
            }),
            ..ResourceStatus::default()
        };
        status
            .resources
            .insert("ecs-service/shop-api".into(), resource);
        status
    }

    #[test]
    fn a_field_is_applied_three_times_then_held() {
        let mut previous = EnvironmentStatus::default();
        for round in 1..=LIMIT {
            let plan = guard(
                Plan {
                    actions: vec![update("desiredCount")],
                },
                &previous,
                4,
            );
            assert!(
                matches!(plan.actions[0].change, Change::Update { .. }),
                "round {round}"
            );
            let written = vec![(
                "ecs-service/shop-api".to_owned(),
                vec!["desiredCount".to_owned()],
            )];
            let counts = after_run(&plan, &written, &previous, 4);
            assert_eq!(counts["ecs-service/shop-api"].fields["desiredCount"], round);
            previous = status_with(&[("desiredCount", round)], 4);
        }
        let plan = guard(
            Plan {
                actions: vec![update("desiredCount")],
            },
            &previous,
            4,
        );
        let Change::Blocked { reason } = &plan.actions[0].change else {
            panic!("held: {:?}", plan.actions[0]);
        };
        assert!(
            reason.starts_with("NotConverging: desiredCount"),
            "{reason}"
        );
        // Held back, the count stands; nothing written.
        let counts = after_run(&plan, &[], &previous, 4);
        assert_eq!(counts["ecs-service/shop-api"].fields["desiredCount"], LIMIT);
    }

    #[test]
    fn a_new_generation_or_a_matching_field_starts_again() {
        let stuck = status_with(&[("desiredCount", LIMIT)], 4);
        let plan = guard(
            Plan {
                actions: vec![update("desiredCount")],
            },
            &stuck,
            5,
        );
        assert!(matches!(plan.actions[0].change, Change::Update { .. }));
        // Matching now: no update planned, nothing written, so no count is kept.
        let counts = after_run(&Plan::default(), &[], &stuck, 4);
        assert!(counts.is_empty());
    }

    #[test]
    fn only_the_stuck_field_is_dropped_from_an_update() {
        let stuck = status_with(&[("desiredCount", LIMIT)], 4);
        let mut action = update("desiredCount");
        if let Change::Update { fields } = &mut action.change {
            fields.push(FieldChange {
                field: "maximumPercent".into(),
                from: Some(json!(150)),
                to: Some(json!(200)),
                effect: None,
            });
        }
        let plan = guard(
            Plan {
                actions: vec![action],
            },
            &stuck,
            4,
        );
        let Change::Update { fields } = &plan.actions[0].change else {
            panic!("update: {:?}", plan.actions[0]);
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["maximumPercent"]);
    }
}
