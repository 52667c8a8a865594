//! Deterministic AWS names derived from an environment, within each service's limits.
//!
//! A resource's name is a pure function of the environment and component names, so a crash
//! between "create" and "record" is healed by finding the resource, never by creating a twin.
//! [`claims`] lists every name an environment derives, so the store can keep two environments
//! from deriving the same one.

pub mod claims;

/// The longest identifier each AWS service accepts, for the names Plumb derives.
pub mod limits {
    pub const ECS_CLUSTER: usize = 255;
    pub const ECS_SERVICE: usize = 255;
    pub const TASK_FAMILY: usize = 255;
    pub const LOG_GROUP: usize = 512;
    pub const RDS_IDENTIFIER: usize = 63;
    pub const ELASTICACHE_REPLICATION_GROUP: usize = 40;
    pub const MQ_BROKER: usize = 50;
    pub const SCALING_POLICY: usize = 256;
    pub const CLOUDWATCH_ALARM: usize = 255;
}

/// `{env}-cluster`.
pub fn ecs_cluster(env: &str) -> String {
    format!("{env}-cluster")
}

/// `{env}-{service}`: the ECS service and its task definition family.
pub fn ecs_service(env: &str, service: &str) -> String {
    format!("{env}-{service}")
}

/// `/ecs/{env}-{service}`.
pub fn log_group(env: &str, service: &str) -> String {
    format!("/ecs/{env}-{service}")
}

/// `service/{cluster}/{service}`: the Application Auto Scaling resource id.
pub fn scalable_resource_id(env: &str, service: &str) -> String {
    format!("service/{}/{}", ecs_cluster(env), ecs_service(env, service))
}

/// Suffix of the queue-depth scale-out policy and of the alarm that triggers it.
pub const QUEUE_OUT: &str = "queue-out";
/// Suffix of the queue-depth scale-in policy and of the alarm that triggers it.
pub const QUEUE_IN: &str = "queue-in";

/// `{env}-{service}-{suffix}`: a scaling policy or an alarm belonging to one service.
pub fn service_child(env: &str, service: &str, suffix: &str) -> String {
    format!("{env}-{service}-{suffix}")
}

/// `{env}-postgres`: the RDS instance or Aurora cluster.
pub fn postgres(env: &str) -> String {
    format!("{env}-postgres")
}

/// `{env}-postgres-{n}`: Aurora instance n (1 is the writer).
pub fn aurora_instance(env: &str, n: u32) -> String {
    format!("{env}-postgres-{n}")
}

/// `{env}-redis`.
pub fn redis(env: &str) -> String {
    format!("{env}-redis")
}

/// `{env}-rabbitmq`.
pub fn rabbitmq(env: &str) -> String {
    format!("{env}-rabbitmq")
}

/// `{env}-{name}`: an explicit alarm.
pub fn alarm(env: &str, name: &str) -> String {
    format!("{env}-{name}")
}
