//! The AWS call budget against moto, through the real SDK: every attempt takes a token of its
//! (account, region, service) bucket, a call past the burst waits for one and is counted as
//! delayed, and other services keep their own buckets.

// Shared with the other moto tests; this one needs only the server.
#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use plumb_operator::aws::{Access, AwsConfig, CallCounter, ClientPool, Rate, Rates};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

#[tokio::test]
async fn a_call_past_the_burst_waits_for_its_token_and_other_services_do_not() {
    let moto = support::Moto::start().await;
    let counter = CallCounter::new();
    let config = AwsConfig {
        rates: Rates {
            ecs: Rate::new(nz(1), nz(2)),
            ..Rates::default()
        },
        ..moto.aws_config()
    };
    let pool = ClientPool::new(config, counter.clone());
    let clients = pool.get(Access::default()).await.unwrap();

    // Three at once against a burst of two: all take their token before any is sent, so
    // exactly one waits (for a second) and then goes.
    let list = || clients.ecs.list_clusters().send();
    let (a, b, c) = tokio::join!(list(), list(), list());
    for answer in [a, b, c] {
        answer.unwrap();
    }
    assert_eq!(counter.delayed(), BTreeMap::from([("ECS".to_owned(), 1)]));
    assert_eq!(counter.calls("ListClusters"), 3);

    // CloudWatch has a bucket of its own, full.
    let alarms = || clients.cloudwatch.describe_alarms().send();
    let (a, b, c) = tokio::join!(alarms(), alarms(), alarms());
    for answer in [a, b, c] {
        answer.unwrap();
    }
    assert_eq!(counter.delayed(), BTreeMap::from([("ECS".to_owned(), 1)]));
}
