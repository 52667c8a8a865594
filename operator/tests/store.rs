//! The store against real Postgres: each test gets a fresh database (DATABASE_URL names the
//! server; `#[sqlx::test]` creates and drops the database).

use std::collections::BTreeMap;

use plumb_operator::names::claims::Namespace;
use plumb_operator::spec::{from_json_value, Environment, EnvironmentSpec};
use plumb_operator::store::{LabelSelector, Role, Store, StoreError, WriteOutcome};
use serde_json::json;
use sqlx::PgPool;

fn env(name: &str, region: &str) -> Environment {
    Environment::new(name, EnvironmentSpec::in_region(region))
}

fn version(env: &Environment) -> i64 {
    env.metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn create_sets_identity_and_records_an_event(pool: PgPool) {
    let store = Store::from_pool(pool);
    let created = store
        .create(&env("shop", "us-east-1"), "alice")
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(store.get("shop").await.unwrap(), created);

    let events = store.events("shop", 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "Created");
    assert_eq!(events[0].actor, "alice");
    assert_eq!(events[0].generation, Some(1));

    let again = store.create(&env("shop", "us-east-1"), "alice").await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(_))),
        "{again:?}"
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn generation_moves_with_the_spec_and_resource_version_with_every_write(pool: PgPool) {
    let store = Store::from_pool(pool);
    let (first, outcome) = store.apply(&env("shop", "us-east-1"), "ci").await.unwrap();
    assert_eq!(outcome, WriteOutcome::Created);

    let (same, outcome) = store.apply(&env("shop", "us-east-1"), "ci").await.unwrap();
    assert_eq!(outcome, WriteOutcome::Unchanged);
    assert_eq!(version(&same), version(&first));

    let mut labelled = env("shop", "us-east-1");
    labelled.metadata.labels = BTreeMap::from([("team".into(), "payments".into())]);
    let (labelled, outcome) = store.apply(&labelled, "ci").await.unwrap();
    assert_eq!(outcome, WriteOutcome::Configured);
    assert_eq!(labelled.metadata.generation, Some(1), "labels are not spec");
    assert!(version(&labelled) > version(&first));

    let mut moved = labelled.clone();
    moved.metadata.resource_version = None;
    moved.spec.region = "eu-west-1".into();
    let (moved, outcome) = store.apply(&moved, "ci").await.unwrap();
    assert_eq!(outcome, WriteOutcome::Configured);
    assert_eq!(moved.metadata.generation, Some(2));
    assert!(version(&moved) > version(&labelled));
    assert_eq!(moved.metadata.labels, labelled.metadata.labels);

    let actions: Vec<_> = store
        .events("shop", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.message))
        .collect();
    assert_eq!(
        actions,
        [
            ("Updated".to_owned(), "spec changed".to_owned()),
            ("Updated".to_owned(), "labels changed".to_owned()),
            ("Created".to_owned(), "environment created".to_owned()),
        ]
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_stale_resource_version_is_a_conflict(pool: PgPool) {
    let store = Store::from_pool(pool);
    let created = store.create(&env("shop", "us-east-1"), "a").await.unwrap();

    let mut first = created.clone();
    first.spec.region = "eu-west-1".into();
    let (updated, _) = store.update(&first, "a").await.unwrap();

    let mut stale = created.clone();
    stale.spec.region = "ap-south-1".into();
    match store.update(&stale, "b").await {
        Err(StoreError::Conflict {
            current, expected, ..
        }) => {
            assert_eq!(current, version(&updated));
            assert_eq!(expected, version(&created));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.get("shop").await.unwrap().spec.region, "eu-west-1");

    let missing = store.update(&env("nowhere", "us-east-1"), "a").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn concurrent_writers_with_one_version_have_exactly_one_winner(pool: PgPool) {
    let store = Store::from_pool(pool);
    let created = store.create(&env("shop", "us-east-1"), "a").await.unwrap();
    let writers = (0..20).map(|i| {
        let store = store.clone();
        let mut next = created.clone();
        next.spec.tags.insert("writer".into(), i.to_string());
        tokio::spawn(async move { store.update(&next, "w").await })
    });
    let mut won = 0;
    let mut conflicts = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok((_, WriteOutcome::Configured)) => won += 1,
            Err(StoreError::Conflict { .. }) => conflicts += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((won, conflicts), (1, 19));
    assert_eq!(
        store.get("shop").await.unwrap().metadata.generation,
        Some(2)
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn deletion_is_soft_until_finalized(pool: PgPool) {
    let store = Store::from_pool(pool);
    let created = store.create(&env("shop", "us-east-1"), "a").await.unwrap();
    let deleting = store.mark_deleting("shop", None, "bob").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert!(version(&deleting) > version(&created));
    assert_eq!(
        store.get("shop").await.unwrap(),
        deleting,
        "still readable while deleting"
    );

    let again = store.mark_deleting("shop", None, "bob").await.unwrap();
    assert_eq!(again, deleting, "a second delete changes nothing");

    let write = store.apply(&env("shop", "us-east-1"), "a").await;
    assert!(matches!(write, Err(StoreError::Deleting(_))), "{write:?}");

    store
        .finalize_deletion("shop", created.metadata.uid.unwrap(), "plumb")
        .await
        .unwrap();
    assert!(matches!(
        store.get("shop").await,
        Err(StoreError::NotFound(_))
    ));
    let actions: Vec<_> = store
        .events("shop", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["Deleted", "DeletionRequested", "Created"]);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn deleting_with_a_stale_version_is_a_conflict(pool: PgPool) {
    let store = Store::from_pool(pool);
    let created = store.create(&env("shop", "us-east-1"), "a").await.unwrap();
    let stale = version(&created) - 1;
    let result = store.mark_deleting("shop", Some(stale), "a").await;
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "{result:?}"
    );
    assert!(store
        .get("shop")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none());
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn list_filters_by_labels_and_pages_by_name(pool: PgPool) {
    let store = Store::from_pool(pool);
    for (name, team) in [
        ("a", "pay"),
        ("b", "web"),
        ("c", "pay"),
        ("d", ""),
        ("e", "pay"),
    ] {
        let mut e = env(name, "us-east-1");
        if !team.is_empty() {
            e.metadata.labels.insert("team".into(), team.into());
        }
        store.create(&e, "t").await.unwrap();
    }
    let names = |page: &plumb_operator::store::Page| {
        page.items
            .iter()
            .map(|e| e.metadata.name.clone())
            .collect::<Vec<_>>()
    };
    let all = LabelSelector::default();
    let first = store.list(&all, 2, None).await.unwrap();
    assert_eq!(names(&first), ["a", "b"]);
    let second = store.list(&all, 2, first.next.as_deref()).await.unwrap();
    assert_eq!(names(&second), ["c", "d"]);
    let third = store.list(&all, 2, second.next.as_deref()).await.unwrap();
    assert_eq!(names(&third), ["e"]);
    assert_eq!(third.next, None);

    let select = |s: &str| s.parse::<LabelSelector>().unwrap();
    assert_eq!(
        names(&store.list(&select("team=pay"), 10, None).await.unwrap()),
        ["a", "c", "e"]
    );
    assert_eq!(
        names(&store.list(&select("team!=pay"), 10, None).await.unwrap()),
        ["b", "d"]
    );
    assert_eq!(
        names(&store.list(&select("!team"), 10, None).await.unwrap()),
        ["d"]
    );
    assert_eq!(
        names(&store.list(&select("team"), 10, None).await.unwrap()),
        ["a", "b", "c", "e"]
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn tokens_are_stored_hashed_and_can_be_revoked(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let new = store.create_token("deployer", Role::Editor).await.unwrap();
    assert!(new.secret.starts_with("plumb_"));

    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(
        stored,
        new.secret.as_bytes(),
        "the secret itself is never stored"
    );

    let found = store.authenticate(&new.secret).await.unwrap().unwrap();
    assert_eq!(found, new.token);
    assert_eq!(store.authenticate("plumb_00").await.unwrap(), None);
    assert_eq!(store.authenticate("").await.unwrap(), None);

    assert!(store.revoke_token(new.token.id).await.unwrap());
    assert_eq!(store.authenticate(&new.secret).await.unwrap(), None);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn status_is_written_beside_the_spec_without_moving_its_version(pool: PgPool) {
    use plumb_operator::spec::{Condition, EnvironmentStatus, ResourceStatus};

    let store = Store::from_pool(pool);
    let created = store.create(&env("shop", "us-east-1"), "a").await.unwrap();
    let uid = created.metadata.uid.unwrap();
    let status = EnvironmentStatus {
        observed_generation: Some(1),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Reconciled".into(),
            message: "2 resources match the spec".into(),
            last_transition_time: chrono::Utc::now(),
            observed_generation: Some(1),
        }],
        resources: BTreeMap::from([(
            "ecs-cluster/shop-cluster".into(),
            ResourceStatus {
                kind: "ecs-cluster".into(),
                arn: Some("arn:aws:ecs:us-east-1:123456789012:cluster/shop-cluster".into()),
                state: Some("ACTIVE".into()),
                phase: Some("Ready".into()),
                ..ResourceStatus::default()
            },
        )]),
    };
    assert!(store.write_status("shop", uid, &status).await.unwrap());
    let read = store.get("shop").await.unwrap();
    assert_eq!(
        read.metadata.resource_version,
        created.metadata.resource_version
    );
    let mut expected = status.clone();
    // Postgres keeps microseconds.
    expected.conditions[0].last_transition_time =
        read.status.as_ref().unwrap().conditions[0].last_transition_time;
    assert_eq!(read.status, Some(expected));

    assert!(
        !store
            .write_status("shop", uuid::Uuid::new_v4(), &status)
            .await
            .unwrap(),
        "another uid"
    );
    assert!(!store.write_status("gone", uid, &status).await.unwrap());
}

/// An environment running one plain ECS service per name in `services`.
fn with_services(name: &str, region: &str, services: &[&str]) -> Environment {
    let services: serde_json::Map<String, serde_json::Value> = services
        .iter()
        .map(|s| {
            let service =
                json!({"image": "repo/app:1", "cpu": 256, "memory": 512, "desiredCount": 1});
            ((*s).to_owned(), service)
        })
        .collect();
    from_json_value(json!({
        "apiVersion": "plumb.dev/v1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {"region": region, "ecs": {"services": services}},
    }))
    .unwrap()
}

fn in_account(mut env: Environment, account: &str) -> Environment {
    env.spec.role_arn = Some(format!("arn:aws:iam::{account}:role/plumb"));
    env
}

/// `(name, namespace, holder)` of a refused write.
fn claimed<T: std::fmt::Debug>(result: Result<T, StoreError>) -> (String, Namespace, String) {
    match result {
        Err(StoreError::NameClaimed {
            name,
            namespace,
            holder,
        }) => (name, namespace, holder),
        other => panic!("expected a claimed name, got {other:?}"),
    }
}

fn prod_eu_api(holder: &str) -> (String, Namespace, String) {
    (
        "prod-eu-api".to_owned(),
        Namespace::EcsService,
        holder.to_owned(),
    )
}

async fn claim_count(pool: &PgPool, environment: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM name_claims WHERE environment = $1")
        .bind(environment)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_name_another_environment_derives_is_refused_and_nothing_is_stored(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    store
        .create(&with_services("prod", "us-east-1", &["eu-api"]), "a")
        .await
        .unwrap();

    let prod_eu = with_services("prod-eu", "us-east-1", &["api"]);
    let refused = store.create(&prod_eu, "b").await;
    assert_eq!(claimed(refused), prod_eu_api("prod"));
    let refused = store.apply(&prod_eu, "b").await;
    assert_eq!(claimed(refused), prod_eu_api("prod"));
    assert!(matches!(
        store.get("prod-eu").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.events("prod-eu", 10).await.unwrap(), []);
    assert_eq!(claim_count(&pool, "prod-eu").await, 0);

    // An update that would take the name is refused too, and leaves the stored spec alone.
    let web = store
        .create(&with_services("prod-eu", "us-east-1", &["web"]), "b")
        .await
        .unwrap();
    let mut both = with_services("prod-eu", "us-east-1", &["web", "api"]);
    both.metadata.resource_version = web.metadata.resource_version.clone();
    let refused = store.update(&both, "b").await.unwrap_err();
    assert_eq!(refused.kind(), "name_claimed");
    assert_eq!(
        refused.to_string(),
        r#"AWS name "prod-eu-api" (ecs-service) is already used by environment "prod""#
    );
    assert_eq!(store.get("prod-eu").await.unwrap(), web);
    assert_eq!(claim_count(&pool, "prod-eu").await, 4, "web's names only");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn claims_move_when_a_service_is_renamed(pool: PgPool) {
    let store = Store::from_pool(pool);
    store
        .create(&with_services("prod", "us-east-1", &["eu-api"]), "a")
        .await
        .unwrap();
    let (renamed, outcome) = store
        .apply(&with_services("prod", "us-east-1", &["eu-web"]), "a")
        .await
        .unwrap();
    assert_eq!(outcome, WriteOutcome::Configured);
    assert_eq!(renamed.metadata.generation, Some(2));

    store
        .create(&with_services("prod-eu", "us-east-1", &["api"]), "b")
        .await
        .expect("prod-eu-api was released by the rename");
    let back = store
        .apply(&with_services("prod", "us-east-1", &["eu-api"]), "a")
        .await;
    assert_eq!(claimed(back), prod_eu_api("prod-eu"));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn claims_stay_while_deleting_and_go_when_finalized(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let prod = store
        .create(&with_services("prod", "us-east-1", &["eu-api"]), "a")
        .await
        .unwrap();
    assert_eq!(
        claim_count(&pool, "prod").await,
        4,
        "cluster, service, family, log group"
    );
    store.mark_deleting("prod", None, "a").await.unwrap();

    let prod_eu = with_services("prod-eu", "us-east-1", &["api"]);
    let refused = store.create(&prod_eu, "b").await;
    assert_eq!(
        claimed(refused),
        prod_eu_api("prod"),
        "its resources still exist"
    );

    store
        .finalize_deletion("prod", prod.metadata.uid.unwrap(), "plumb")
        .await
        .unwrap();
    assert_eq!(claim_count(&pool, "prod").await, 0);
    store.create(&prod_eu, "b").await.unwrap();
    assert_eq!(claim_count(&pool, "prod-eu").await, 4);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_environment_reapplying_its_own_names_is_fine(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let prod = with_services("prod", "us-east-1", &["api", "worker"]);
    store.create(&prod, "a").await.unwrap();
    let (_, outcome) = store.apply(&prod, "a").await.unwrap();
    assert_eq!(outcome, WriteOutcome::Unchanged);

    let mut bigger = prod.clone();
    bigger
        .spec
        .ecs
        .as_mut()
        .unwrap()
        .services
        .get_mut("api")
        .unwrap()
        .cpu = 512;
    let (stored, outcome) = store.apply(&bigger, "a").await.unwrap();
    assert_eq!(outcome, WriteOutcome::Configured);
    assert_eq!(stored.metadata.generation, Some(2));
    assert_eq!(claim_count(&pool, "prod").await, 7);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn other_regions_and_accounts_do_not_collide(pool: PgPool) {
    let store = Store::from_pool(pool);
    store
        .create(&with_services("prod", "us-east-1", &["eu-api"]), "a")
        .await
        .unwrap();
    store
        .create(&with_services("prod-eu", "eu-west-1", &["api"]), "a")
        .await
        .expect("another region");

    let a = in_account(
        with_services("stage", "us-east-1", &["eu-api"]),
        "111111111111",
    );
    store.create(&a, "a").await.unwrap();
    let b = in_account(
        with_services("stage-eu", "us-east-1", &["api"]),
        "222222222222",
    );
    store.create(&b, "a").await.expect("another account");
    let own = with_services("stage-eu", "us-east-1", &["api"]);
    store
        .apply(&own, "a")
        .await
        .expect("Plumb's own account holds no stage-eu-api");

    let same = in_account(
        with_services("stage-eu", "us-east-1", &["api"]),
        "111111111111",
    );
    let refused = store.apply(&same, "a").await;
    assert_eq!(
        claimed(refused),
        (
            "stage-eu-api".to_owned(),
            Namespace::EcsService,
            "stage".to_owned()
        ),
        "the same account and region"
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn concurrent_writers_of_one_name_have_exactly_one_winner(pool: PgPool) {
    let store = Store::from_pool(pool);
    let writes = (0..10).flat_map(|i| {
        let pair = [
            with_services(&format!("p{i}"), "us-east-1", &["x-api"]),
            with_services(&format!("p{i}-x"), "us-east-1", &["api"]),
        ];
        pair.map(|env| {
            let store = store.clone();
            tokio::spawn(async move { (env.metadata.name.clone(), store.create(&env, "w").await) })
        })
    });
    let writes: Vec<_> = writes.collect();
    let mut outcomes: BTreeMap<String, Result<Environment, StoreError>> = BTreeMap::new();
    for write in writes {
        let (name, result) = write.await.unwrap();
        outcomes.insert(name, result);
    }
    for i in 0..10 {
        let (a, b) = (format!("p{i}"), format!("p{i}-x"));
        let (winner, loser) = match (&outcomes[&a], &outcomes[&b]) {
            (Ok(_), Err(_)) => (&a, &b),
            (Err(_), Ok(_)) => (&b, &a),
            other => panic!("{a} and {b}: expected one winner, got {other:?}"),
        };
        match outcomes.remove(loser) {
            Some(Err(StoreError::NameClaimed { name, holder, .. })) => {
                assert_eq!(name, format!("p{i}-x-api"));
                assert_eq!(&holder, winner);
            }
            other => panic!("{loser}: expected a claimed name, got {other:?}"),
        }
        assert!(matches!(
            store.get(loser).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

/// Defaults Plumb manages are written into the stored spec, so reading it back (`plumb get -o
/// yaml`) shows them: the deployment bounds and circuit breaker, Container Insights, the
/// capacity providers, the log retention, the CPU architecture, public IPs.
#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn managed_defaults_are_visible_in_the_stored_spec(pool: PgPool) {
    let store = Store::from_pool(pool);
    let spec = json!({
        "apiVersion": "plumb.dev/v1",
        "kind": "Environment",
        "metadata": {"name": "shop"},
        "spec": {
            "region": "us-east-1",
            "network": {"subnets": ["subnet-0a1b2c3d4e5f60718"]},
            "ecs": {"services": {"api": {
                "image": "repo/api:1", "cpu": 256, "memory": 512, "desiredCount": 1
            }}}
        }
    });
    let env = from_json_value(spec).unwrap();
    store.apply(&env, "test").await.unwrap();
    let stored = serde_json::to_value(store.get("shop").await.unwrap().spec).unwrap();
    assert_eq!(
        stored["ecs"]["services"]["api"]["deployment"],
        json!({
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
            "circuitBreaker": {"enable": true, "rollback": true}
        })
    );
    assert_eq!(stored["ecs"]["containerInsights"], json!(false));
    assert_eq!(stored["ecs"]["capacityProviders"], json!(["FARGATE"]));
    assert_eq!(stored["ecs"]["logRetentionDays"], json!(30));
    assert_eq!(
        stored["ecs"]["services"]["api"]["cpuArchitecture"],
        json!("X86_64")
    );
    assert_eq!(stored["network"]["assignPublicIp"], json!(false));
    assert_eq!(stored["policy"]["adopt"], json!(false));
}
