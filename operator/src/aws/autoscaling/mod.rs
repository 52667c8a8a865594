//! Application Auto Scaling: the scalable target of each autoscaled service (its desired
//! count) and the target-tracking and step-scaling policies on it.

pub(crate) mod policy;
pub(crate) mod target;

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};

/// The service label the SDK uses, for errors.
const SERVICE: &str = "Application Auto Scaling";
/// What AWS answers for a target or policy that is not there.
const NOT_FOUND: &[&str] = &["ObjectNotFoundException"];
/// The largest page the Describe calls return, and the most resource ids one call takes.
const PAGE: i32 = 50;

fn namespace() -> ServiceNamespace {
    ServiceNamespace::Ecs
}

fn dimension() -> ScalableDimension {
    ScalableDimension::EcsServiceDesiredCount
}
