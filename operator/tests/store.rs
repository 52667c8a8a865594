//! The store against real Postgres: each test gets a fresh database (DATABASE_URL names the
//! server; `#[sqlx::test]` creates and drops the database).

use std::collections::BTreeMap;

use plumb_operator::spec::{Environment, EnvironmentSpec};
use plumb_operator::store::{LabelSelector, Role, Store, StoreError, WriteOutcome};
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
