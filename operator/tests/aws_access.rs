//! Which accounts Plumb may act in, and how its clients are kept: the allow-list refuses a
//! role before STS is asked anything, the external id goes with AssumeRole, and the client
//! cache never grows past its bound.

#[path = "support/sts.rs"]
mod sts;

use std::num::NonZeroUsize;

use plumb_operator::aws::{Access, AwsError, CallCounter, ClientPool, Clients, CAPACITY};
use sts::FakeSts;

const OWN: &str = "123456789012";
const LISTED: &str = "111111111111";
const FOREIGN: &str = "222222222222";

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/plumb")
}

fn as_role<'a>(role_arn: &'a str, external_id: Option<&'a str>) -> Access<'a> {
    Access {
        region: "us-east-1",
        role_arn: Some(role_arn),
        external_id,
    }
}

fn in_region(region: &str) -> Access<'_> {
    Access {
        region,
        ..Access::default()
    }
}

/// Makes one call, so the clients resolve their credentials (assuming the role, if any).
async fn touch(clients: &Clients) {
    let _ = clients.ecs.list_clusters().send().await;
}

#[tokio::test]
async fn a_role_outside_the_allowed_accounts_is_refused_before_sts_is_called() {
    let aws = FakeSts::start(OWN).await;
    let mut config = aws.aws_config();
    config.allowed_accounts = [LISTED.to_owned()].into();
    let pool = ClientPool::new(config, CallCounter::new());

    let foreign = role(FOREIGN);
    let err = pool
        .get(as_role(&foreign, None))
        .await
        .expect_err("a foreign account is refused");
    assert!(
        matches!(&err, AwsError::AccountNotAllowed { account, .. } if account == FOREIGN),
        "{err:?}"
    );
    assert_eq!(err.kind(), "account-not-allowed");
    let message = err.to_string();
    assert!(message.contains(FOREIGN), "{message}");
    assert!(message.contains("--allowed-accounts"), "{message}");
    assert!(message.contains("PLUMB_ALLOWED_ACCOUNTS"), "{message}");

    let err = pool
        .get(as_role("arn:aws:iam::role/plumb", None))
        .await
        .expect_err("no account, no role");
    assert_eq!(err.kind(), "role-arn");

    assert!(aws.requests().is_empty(), "{:?}", aws.requests());
    assert!(pool.is_empty(), "nothing refused is cached");

    // A listed account's role is assumed, on the first call that needs credentials.
    let listed = role(LISTED);
    let clients = pool.get(as_role(&listed, None)).await.expect("allowed");
    assert!(aws.requests().is_empty(), "building clients calls nothing");
    touch(&clients).await;
    let requests = aws.requests();
    assert_eq!(aws.operations(), ["AssumeRole", "ListClusters"]);
    assert_eq!(requests[0].param("RoleArn"), Some(listed.as_str()));
    assert_eq!(requests[0].param("RoleSessionName"), Some("plumb"));
}

#[tokio::test]
async fn without_a_list_only_plumbs_own_account_is_allowed_and_learnt_once() {
    let aws = FakeSts::start(OWN).await;
    let calls = CallCounter::new();
    let pool = ClientPool::new(aws.aws_config(), calls.clone());

    let foreign = role(FOREIGN);
    let err = pool
        .get(as_role(&foreign, None))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), "account-not-allowed");
    assert_eq!(aws.operations(), ["GetCallerIdentity"]);

    let own = role(OWN);
    pool.get(as_role(&own, None)).await.expect("own account");
    let err = pool
        .get(as_role(&foreign, None))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), "account-not-allowed");
    assert_eq!(
        aws.operations(),
        ["GetCallerIdentity"],
        "the own account is asked once; no role was assumed"
    );
    assert_eq!(calls.calls("GetCallerIdentity"), 1, "the call is counted");

    // Environments without a role use Plumb's own credentials and need no check.
    let other = FakeSts::start(OWN).await;
    let pool = ClientPool::new(other.aws_config(), CallCounter::new());
    pool.get(in_region("eu-west-1")).await.expect("no role");
    assert!(other.requests().is_empty());
}

#[tokio::test]
async fn the_external_id_goes_with_assume_role() {
    let aws = FakeSts::start(OWN).await;
    let mut config = aws.aws_config();
    config.external_id = Some("plumb-default".to_owned());
    let pool = ClientPool::new(config.clone(), CallCounter::new());
    let own = role(OWN);

    let assumed_with = |pool_external: Option<&str>| {
        let requests = aws.requests();
        let assume = requests
            .iter()
            .rev()
            .find(|r| r.operation == "AssumeRole")
            .expect("an AssumeRole call")
            .clone();
        assert_eq!(assume.param("RoleArn"), Some(own.as_str()));
        assert_eq!(assume.param("ExternalId"), pool_external, "{assume:?}");
    };

    // The environment's own external id wins over the server's default.
    touch(
        &pool
            .get(as_role(&own, Some("tenant-42")))
            .await
            .expect("clients"),
    )
    .await;
    assumed_with(Some("tenant-42"));
    // Without one, the server's default is sent.
    touch(&pool.get(as_role(&own, None)).await.expect("clients")).await;
    assumed_with(Some("plumb-default"));
    assert_eq!(pool.len(), 2, "clients are kept per external id");

    // Neither: no ExternalId parameter at all.
    let plain = ClientPool::new(
        plumb_operator::aws::AwsConfig {
            external_id: None,
            ..config
        },
        CallCounter::new(),
    );
    touch(&plain.get(as_role(&own, None)).await.expect("clients")).await;
    assumed_with(None);
    let assumes = aws
        .operations()
        .iter()
        .filter(|op| *op == "AssumeRole")
        .count();
    assert_eq!(assumes, 3);
}

#[tokio::test]
async fn the_cache_never_holds_more_than_its_bound() {
    let aws = FakeSts::start(OWN).await;
    let pool = ClientPool::new(aws.aws_config(), CallCounter::new());
    assert_eq!(pool.capacity(), CAPACITY.get());
    assert_eq!(CAPACITY.get(), 256);

    let regions: Vec<String> = (0..CAPACITY.get() + 44)
        .map(|i| format!("test-region-{i}"))
        .collect();
    for region in &regions {
        pool.get(in_region(region)).await.expect("clients");
        assert!(pool.len() <= CAPACITY.get(), "{} cached", pool.len());
    }
    assert_eq!(pool.len(), CAPACITY.get());
    let (evicted, kept) = regions.split_at(44);
    assert!(evicted.iter().all(|r| !pool.contains(in_region(r))));
    assert!(kept.iter().all(|r| pool.contains(in_region(r))));
    assert!(aws.requests().is_empty(), "no role, no call");
}

#[tokio::test]
async fn the_least_recently_used_clients_go_first() {
    let aws = FakeSts::start(OWN).await;
    let two = NonZeroUsize::new(2).expect("not zero");
    let pool = ClientPool::with_capacity(aws.aws_config(), CallCounter::new(), two);

    pool.get(in_region("us-east-1")).await.expect("clients");
    pool.get(in_region("")).await.expect("the default region");
    assert_eq!(pool.len(), 1, "an empty region is the default one");

    pool.get(in_region("eu-west-1")).await.expect("clients");
    pool.get(in_region("us-east-1")).await.expect("used again");
    pool.get(in_region("ap-south-1")).await.expect("clients");
    assert_eq!(pool.len(), 2);
    assert!(pool.contains(in_region("us-east-1")));
    assert!(pool.contains(in_region("ap-south-1")));
    assert!(
        !pool.contains(in_region("eu-west-1")),
        "least recently used"
    );
}
