//! Reading the `plumb:environment` tag: who a resource belongs to.

use std::collections::BTreeSet;
use std::future::Future;

use futures::{StreamExt, TryStreamExt};

use super::adapter::{Cx, Result};
use super::error::AwsError;
use crate::engine::graph::{TAG_ENVIRONMENT, TAG_MANAGED_BY};
use crate::engine::{Observed, Owner};

/// Tag reads (one call per resource, for kinds whose Describe does not return tags) made at
/// once.
const PARALLEL_TAG_READS: usize = 5;

/// Sets the owner of each resource from its tags, read with `read_tags(arn)` once per ARN
/// and remembered; keeps those with a desired name and those that are ours.
pub(crate) async fn owned<F, Fut>(
    cx: Cx<'_>,
    found: Vec<Observed>,
    desired: &BTreeSet<String>,
    read_tags: F,
) -> Result<Vec<Observed>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Vec<(String, String)>>>,
{
    let read_tags = &read_tags;
    let calls: Vec<_> = found
        .into_iter()
        .map(|mut o| async move {
            o.owner = match o.arn.clone() {
                None => Owner::Untagged,
                Some(arn) => match cx.cache.owner(&arn) {
                    Some(known) => known,
                    None => {
                        let tags = read_tags(arn.clone()).await?;
                        let found =
                            owner(cx.env, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                        cx.cache.put_owner(&arn, found.clone());
                        found
                    }
                },
            };
            Ok::<_, AwsError>(o)
        })
        .collect();
    let found: Vec<Observed> = futures::stream::iter(calls)
        .buffered(PARALLEL_TAG_READS)
        .try_collect()
        .await?;
    Ok(found
        .into_iter()
        .filter(|o| desired.contains(&o.id.name) || o.owner == Owner::Ours)
        .collect())
}

/// The ARN a tagging call needs.
pub(crate) fn arn_of(current: &Observed) -> Result<&str> {
    current.arn.as_deref().ok_or_else(|| AwsError::Field {
        resource: current.id.clone(),
        field: "arn",
    })
}

/// The owner the tags name, given as (key, value) pairs.
pub(crate) fn owner<'a>(env: &str, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Owner {
    let mut managed = false;
    let mut named = None;
    for (key, value) in tags {
        match key {
            TAG_ENVIRONMENT => named = Some(value),
            TAG_MANAGED_BY => managed = true,
            _ => {}
        }
    }
    match named {
        Some(name) if name == env => Owner::Ours,
        Some(name) => Owner::Other(name.to_owned()),
        None if managed => Owner::Other("(unnamed)".to_owned()),
        None => Owner::Untagged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_tag_names_the_owner() {
        let ours = [(TAG_ENVIRONMENT, "prod"), (TAG_MANAGED_BY, "plumb")];
        assert_eq!(owner("prod", ours), Owner::Ours);
        let theirs = [(TAG_ENVIRONMENT, "prod-eu")];
        assert_eq!(owner("prod", theirs), Owner::Other("prod-eu".into()));
        assert_eq!(owner("prod", [("team", "payments")]), Owner::Untagged);
        assert_eq!(owner("prod", []), Owner::Untagged);
    }
}
