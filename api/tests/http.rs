//! The REST API through real HTTP, against real Postgres (a fresh database per test).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use plumb_api::{ApiConfig, AppState};
use plumb_operator::aws::AwsConfig;
use plumb_operator::controller::Queue;
use plumb_operator::store::{Role, Store};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

const MAX_BODY: usize = 64 * 1024;

struct Api {
    addr: SocketAddr,
    http: Client,
    editor: String,
    viewer: String,
    _served: support::Served,
}

impl Api {
    async fn start(pool: PgPool) -> Self {
        let store = Store::from_pool(pool);
        let editor = store
            .create_token("editor", Role::Editor)
            .await
            .unwrap()
            .secret;
        let viewer = store
            .create_token("viewer", Role::Viewer)
            .await
            .unwrap()
            .secret;
        let config = ApiConfig {
            max_body_bytes: MAX_BODY,
            ..ApiConfig::default()
        };
        let state = AppState::new(store, config, AwsConfig::default()).unwrap();
        let served = support::serve(state).await;
        Self {
            addr: served.addr,
            http: Client::new(),
            editor,
            viewer,
            _served: served,
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("http://{}{path}", self.addr))
            .bearer_auth(&self.editor)
    }

    async fn put(&self, env: &Value) -> Response {
        let name = env["metadata"]["name"].as_str().unwrap();
        self.request(Method::PUT, &format!("/api/v1/environments/{name}"))
            .json(env)
            .send()
            .await
            .unwrap()
    }
}

fn env(name: &str) -> Value {
    json!({
        "apiVersion": "plumb.dev/v1",
        "kind": "Environment",
        "metadata": {"name": name, "labels": {"team": "payments"}},
        "spec": {"region": "us-east-1", "tags": {"cost-center": "42"}}
    })
}

async fn body(response: Response) -> Value {
    response.json().await.unwrap()
}

async fn expect(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "every answer, errors too, is JSON"
    );
    let value = body(response).await;
    assert_eq!(value["code"], code, "{value}");
    value
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn tokens_and_roles_guard_every_route(pool: PgPool) {
    let api = Api::start(pool).await;
    let anonymous = api
        .http
        .get(format!("http://{}/api/v1/environments", api.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    expect(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let wrong = api
        .http
        .get(format!("http://{}/api/v1/environments", api.addr))
        .bearer_auth("plumb_0000")
        .send()
        .await
        .unwrap();
    expect(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let basic = api
        .http
        .get(format!("http://{}/api/v1/environments", api.addr))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    expect(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let as_viewer = |method: Method, path: &str| {
        api.http
            .request(method, format!("http://{}{path}", api.addr))
            .bearer_auth(&api.viewer)
    };
    let write = as_viewer(Method::PUT, "/api/v1/environments/shop")
        .json(&env("shop"))
        .send()
        .await
        .unwrap();
    let error = expect(write, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(
        error["message"].as_str().unwrap().contains("editor"),
        "{error}"
    );
    let delete = as_viewer(Method::DELETE, "/api/v1/environments/shop")
        .send()
        .await
        .unwrap();
    expect(delete, StatusCode::FORBIDDEN, "forbidden").await;

    assert_eq!(api.put(&env("shop")).await.status(), StatusCode::CREATED);
    let read = as_viewer(Method::GET, "/api/v1/environments/shop")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn create_read_replace_and_report_the_outcome(pool: PgPool) {
    let api = Api::start(pool).await;
    let created = api
        .request(Method::POST, "/api/v1/environments")
        .json(&env("shop"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["location"], "/api/v1/environments/shop");
    let created = body(created).await;
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created["metadata"]["uid"].is_string());
    assert!(created["status"].is_object(), "responses carry the status");

    let again = api
        .request(Method::POST, "/api/v1/environments")
        .json(&env("shop"))
        .send()
        .await
        .unwrap();
    expect(again, StatusCode::CONFLICT, "conflict").await;

    let unchanged = api.put(&env("shop")).await;
    assert_eq!(unchanged.status(), StatusCode::OK);
    assert_eq!(unchanged.headers()["plumb-outcome"], "unchanged");

    let mut changed = env("shop");
    changed["spec"]["region"] = json!("eu-west-1");
    let configured = api.put(&changed).await;
    assert_eq!(configured.status(), StatusCode::OK);
    assert_eq!(configured.headers()["plumb-outcome"], "configured");
    let etag = configured.headers()["etag"].to_str().unwrap().to_owned();
    let configured = body(configured).await;
    assert_eq!(configured["metadata"]["generation"], 2);
    assert_eq!(
        etag,
        format!(
            "\"{}\"",
            configured["metadata"]["resourceVersion"].as_str().unwrap()
        )
    );

    let fresh = api.put(&env("other")).await;
    assert_eq!(fresh.status(), StatusCode::CREATED);
    assert_eq!(fresh.headers()["plumb-outcome"], "created");

    let read = api
        .request(Method::GET, "/api/v1/environments/shop")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(body(read).await["spec"]["region"], "eu-west-1");

    let missing = api
        .request(Method::GET, "/api/v1/environments/nope")
        .send()
        .await
        .unwrap();
    expect(missing, StatusCode::NOT_FOUND, "not_found").await;

    let mismatch = api
        .request(Method::PUT, "/api/v1/environments/elsewhere")
        .json(&env("shop"))
        .send()
        .await
        .unwrap();
    let error = expect(mismatch, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(error["fields"][0]["field"], "metadata.name");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn yaml_bodies_are_accepted(pool: PgPool) {
    let api = Api::start(pool).await;
    let yaml = "apiVersion: plumb.dev/v1\nkind: Environment\nmetadata:\n  name: yml\nspec:\n  region: eu-west-1\n";
    let response = api
        .request(Method::PUT, "/api/v1/environments/yml")
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["spec"]["region"], "eu-west-1");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn stale_versions_conflict_with_the_current_version_in_the_answer(pool: PgPool) {
    let api = Api::start(pool).await;
    let first = body(api.put(&env("shop")).await).await;
    let version = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut next = env("shop");
    next["spec"]["region"] = json!("eu-west-1");
    next["metadata"]["resourceVersion"] = json!(version);
    let won = body(api.put(&next).await).await;
    let current = won["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(current, version);

    next["spec"]["region"] = json!("ap-south-1");
    let stale = api.put(&next).await;
    let error = expect(stale, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(error["currentResourceVersion"], current);

    let mut by_header = env("shop");
    by_header["spec"]["region"] = json!("ap-south-1");
    let stale = api
        .request(Method::PUT, "/api/v1/environments/shop")
        .header("if-match", format!("\"{version}\""))
        .json(&by_header)
        .send()
        .await
        .unwrap();
    expect(stale, StatusCode::CONFLICT, "conflict").await;

    let patch = api
        .request(Method::PATCH, "/api/v1/environments/shop")
        .header("content-type", "application/merge-patch+json")
        .header("if-match", version.as_str())
        .body(r#"{"spec":{"region":"ca-central-1"}}"#)
        .send()
        .await
        .unwrap();
    expect(patch, StatusCode::CONFLICT, "conflict").await;

    let read = body(
        api.request(Method::GET, "/api/v1/environments/shop")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read["spec"]["region"], "eu-west-1", "no stale write landed");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn twenty_concurrent_puts_with_one_version_have_one_winner(pool: PgPool) {
    let api = Arc::new(Api::start(pool).await);
    let first = body(api.put(&env("shop")).await).await;
    let version = first["metadata"]["resourceVersion"].clone();
    let puts = (0..20).map(|i| {
        let api = api.clone();
        let mut next = env("shop");
        next["metadata"]["resourceVersion"] = version.clone();
        next["spec"]["tags"]["writer"] = json!(i.to_string());
        tokio::spawn(async move { api.put(&next).await.status() })
    });
    let mut statuses = Vec::new();
    for put in puts {
        statuses.push(put.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflict = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflict), (1, 19), "{statuses:?}");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn validation_reports_every_field_at_once(pool: PgPool) {
    let api = Api::start(pool).await;
    let mut bad = env("Bad_Name");
    bad["spec"]["region"] = json!("moon-base-1a");
    let response = api
        .request(Method::POST, "/api/v1/environments")
        .json(&bad)
        .send()
        .await
        .unwrap();
    let error = expect(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    let fields: Vec<&str> = error["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"metadata.name"), "{error}");
    assert!(fields.contains(&"spec.region"), "{error}");

    let mut typo = env("shop");
    typo["spec"]["regoin"] = json!("us-east-1");
    let response = api.put(&typo).await;
    let error = expect(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(error["fields"][0]["field"], "spec.regoin");

    let listed = body(
        api.request(Method::GET, "/api/v1/environments")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["items"], json!([]), "nothing invalid was stored");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn hostile_bodies_get_a_4xx_never_a_panic(pool: PgPool) {
    let api = Api::start(pool).await;
    let send = |content_type: &'static str, body: Vec<u8>| {
        api.request(Method::PUT, "/api/v1/environments/shop")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let malformed = send("application/json", b"{\"apiVersion\": ".to_vec())
        .await
        .unwrap();
    expect(malformed, StatusCode::BAD_REQUEST, "bad_request").await;
    let malformed = send("application/yaml", b"metadata: [unclosed".to_vec())
        .await
        .unwrap();
    expect(malformed, StatusCode::BAD_REQUEST, "bad_request").await;
    let non_utf8 = send("application/json", vec![0xff, 0xfe, 0x00, 0x7b])
        .await
        .unwrap();
    expect(non_utf8, StatusCode::BAD_REQUEST, "bad_request").await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let deep_object = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes();
    for (content_type, deep) in [
        ("application/json", deep.clone()),
        ("application/yaml", deep),
        ("application/json", deep_object.clone()),
        ("application/yaml", deep_object),
    ] {
        let deep = send(content_type, deep).await.unwrap();
        assert!(
            deep.status().is_client_error(),
            "{content_type}: {}",
            deep.status()
        );
        let deep = body(deep).await;
        assert!(
            ["bad_request", "invalid"].contains(&deep["code"].as_str().unwrap()),
            "{deep}"
        );
    }
    let huge = serde_json::to_vec(&json!({
        "apiVersion": "plumb.dev/v1", "kind": "Environment", "metadata": {"name": "shop"},
        "spec": {"region": "us-east-1", "ecs": {"services": {"api": {
            "image": "x", "cpu": 1e300, "memory": 99999999999999999999u128 as f64, "desiredCount": -1}}}}
    }))
    .unwrap();
    let huge = send("application/json", huge).await.unwrap();
    let error = expect(huge, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert!(error["fields"][0]["field"]
        .as_str()
        .unwrap()
        .starts_with("spec.ecs.services.api"));
    let billion_laughs =
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
        g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    let laughs = send("application/yaml", billion_laughs.as_bytes().to_vec())
        .await
        .unwrap();
    assert!(laughs.status().is_client_error(), "{}", laughs.status());

    let too_big = send("application/json", vec![b' '; MAX_BODY + 1])
        .await
        .unwrap();
    expect(too_big, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let wrong_type = send("text/plain", serde_json::to_vec(&env("shop")).unwrap())
        .await
        .unwrap();
    expect(
        wrong_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let no_type = api
        .request(Method::POST, "/api/v1/environments")
        .body(serde_json::to_vec(&env("shop")).unwrap())
        .send()
        .await
        .unwrap();
    expect(
        no_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let bad_if_match = api
        .request(Method::PUT, "/api/v1/environments/shop")
        .header("if-match", "yesterday")
        .json(&env("shop"))
        .send()
        .await
        .unwrap();
    let error = expect(bad_if_match, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(error["fields"][0]["field"], "If-Match");

    let mut garbage_version = env("shop");
    garbage_version["metadata"]["resourceVersion"] = json!("abc");
    let error = expect(
        api.put(&garbage_version).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    assert_eq!(error["fields"][0]["field"], "metadata.resourceVersion");

    let listed = body(
        api.request(Method::GET, "/api/v1/environments")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        listed["items"],
        json!([]),
        "nothing was stored by any of it"
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn merge_patch_changes_only_what_it_names(pool: PgPool) {
    let api = Api::start(pool).await;
    api.put(&env("shop")).await;
    let patch = |body: &'static str, content_type: &'static str| {
        api.request(Method::PATCH, "/api/v1/environments/shop")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let patched = patch(
        r#"{"metadata":{"labels":{"team":null,"tier":"prod"}},"spec":{"region":"eu-west-1"}}"#,
        "application/merge-patch+json",
    )
    .await
    .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched = body(patched).await;
    assert_eq!(patched["metadata"]["labels"], json!({"tier": "prod"}));
    assert_eq!(patched["spec"]["region"], "eu-west-1");
    assert_eq!(
        patched["spec"]["tags"],
        json!({"cost-center": "42"}),
        "untouched"
    );
    assert_eq!(patched["metadata"]["generation"], 2);

    let rename = patch(
        r#"{"metadata":{"name":"other"}}"#,
        "application/merge-patch+json",
    )
    .await
    .unwrap();
    let error = expect(rename, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(error["fields"][0]["field"], "metadata.name");

    let typo = patch(r#"{"spec":{"regoin":"x"}}"#, "application/merge-patch+json")
        .await
        .unwrap();
    let error = expect(typo, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(error["fields"][0]["field"], "spec.regoin");

    let not_object = patch("[1,2]", "application/merge-patch+json")
        .await
        .unwrap();
    expect(not_object, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    let malformed = patch("{", "application/merge-patch+json").await.unwrap();
    expect(malformed, StatusCode::BAD_REQUEST, "bad_request").await;
    let yaml = patch("spec: {}", "application/yaml").await.unwrap();
    expect(
        yaml,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let missing = api
        .request(Method::PATCH, "/api/v1/environments/nope")
        .header("content-type", "application/merge-patch+json")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect(missing, StatusCode::NOT_FOUND, "not_found").await;
}

/// `env(name)` running one ECS service.
fn with_service(name: &str, service: &str) -> Value {
    let mut env = env(name);
    env["spec"]["network"] =
        json!({"subnets": ["subnet-0123abcd"], "securityGroups": ["sg-0123abcd"]});
    env["spec"]["ecs"] = json!({"services": {service: {
        "image": "repo/app:1", "cpu": 256, "memory": 512, "desiredCount": 1
    }}});
    env
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn an_aws_name_another_environment_uses_is_a_conflict_naming_it(pool: PgPool) {
    let api = Api::start(pool).await;
    let first = api.put(&with_service("prod", "eu-api")).await;
    assert_eq!(first.status(), StatusCode::CREATED);

    let message = r#"AWS name "prod-eu-api" (ecs-service) is already used by environment "prod""#;
    let put = api.put(&with_service("prod-eu", "api")).await;
    let error = expect(put, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(error["message"], message);
    let post = api
        .request(Method::POST, "/api/v1/environments")
        .json(&with_service("prod-eu", "api"))
        .send()
        .await
        .unwrap();
    let error = expect(post, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(error["message"], message);

    let read = api
        .request(Method::GET, "/api/v1/environments/prod-eu")
        .send()
        .await
        .unwrap();
    expect(read, StatusCode::NOT_FOUND, "not_found").await;

    let elsewhere = api.put(&with_service("prod-eu", "web")).await;
    assert_eq!(elsewhere.status(), StatusCode::CREATED);
    let patch = api
        .request(Method::PATCH, "/api/v1/environments/prod-eu")
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"spec":{"ecs":{"services":{"web":null,"api":{"image":"repo/app:1","cpu":256,"memory":512,"desiredCount":1}}}}}"#)
        .send()
        .await
        .unwrap();
    let error = expect(patch, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(error["message"], message);
    let read = body(
        api.request(Method::GET, "/api/v1/environments/prod-eu")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(read["spec"]["ecs"]["services"]["web"].is_object(), "{read}");
    assert_eq!(read["metadata"]["generation"], 1);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn delete_marks_the_environment_deleting(pool: PgPool) {
    let api = Api::start(pool).await;
    api.put(&env("shop")).await;
    let deleted = api
        .request(Method::DELETE, "/api/v1/environments/shop")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    assert!(body(deleted).await["metadata"]["deletionTimestamp"].is_string());

    let read = body(
        api.request(Method::GET, "/api/v1/environments/shop")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(read["metadata"]["deletionTimestamp"].is_string());
    expect(
        api.put(&env("shop")).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    let again = api
        .request(Method::DELETE, "/api/v1/environments/shop")
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::ACCEPTED,
        "deleting twice is fine"
    );
    let missing = api
        .request(Method::DELETE, "/api/v1/environments/nope")
        .send()
        .await
        .unwrap();
    expect(missing, StatusCode::NOT_FOUND, "not_found").await;

    let events = body(
        api.request(Method::GET, "/api/v1/environments/shop/events")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["DeletionRequested", "Created"]);
    assert_eq!(events[0]["actor"], "editor");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn reconcile_queues_the_environment_and_answers_202_at_once(pool: PgPool) {
    let queue = Queue::new(pool.clone());
    let api = Api::start(pool).await;
    api.put(&env("shop")).await;
    // Take it off the queue for a while, as a controller's release would.
    let lease = queue
        .claim("shop", "test", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    queue
        .release(&lease, Duration::from_secs(300), 0, None)
        .await
        .unwrap();
    assert!(queue.due_in("shop").await.unwrap().unwrap() > Duration::from_secs(290));

    // AWS is never reached here: no controller runs, and the handler only queues.
    let requested = api
        .request(Method::POST, "/api/v1/environments/shop/reconcile")
        .send()
        .await
        .unwrap();
    assert_eq!(requested.status(), StatusCode::ACCEPTED);
    assert_eq!(
        body(requested).await,
        json!({
            "name": "shop",
            "generation": 1,
            "message": "queued; a controller reconciles it now"
        })
    );
    assert_eq!(queue.due_in("shop").await.unwrap(), Some(Duration::ZERO));
    let events = body(
        api.request(Method::GET, "/api/v1/environments/shop/events")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(events[0]["action"], "ReconcileRequested");
    assert_eq!(events[0]["actor"], "editor");

    let missing = api
        .request(Method::POST, "/api/v1/environments/nope/reconcile")
        .send()
        .await
        .unwrap();
    expect(missing, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn list_selects_by_label_and_pages(pool: PgPool) {
    let api = Api::start(pool).await;
    for (name, team) in [("a", "payments"), ("b", "web"), ("c", "payments")] {
        let mut e = env(name);
        e["metadata"]["labels"]["team"] = json!(team);
        api.put(&e).await;
    }
    let get = |query: &'static str| {
        api.request(Method::GET, &format!("/api/v1/environments{query}"))
            .send()
    };
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let payments = body(get("?labelSelector=team%3Dpayments").await.unwrap()).await;
    assert_eq!(names(&payments), ["a", "c"]);
    assert_eq!(payments["kind"], "EnvironmentList");

    let first = body(get("?limit=2").await.unwrap()).await;
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first["metadata"]["continue"], "b");
    let rest = body(get("?limit=2&continue=b").await.unwrap()).await;
    assert_eq!(names(&rest), ["c"]);
    assert!(rest["metadata"].get("continue").is_none());

    let error = expect(
        get("?labelSelector=%3Dx").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_eq!(error["fields"][0]["field"], "labelSelector");
    let error = expect(
        get("?limit=0").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_eq!(error["fields"][0]["field"], "limit");
    expect(
        get("?limit=abc").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect(
        get("?limit=99999999999999999999").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect(
        get("?bogus=1").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn health_fallbacks_and_openapi(pool: PgPool) {
    let api = Api::start(pool).await;
    let plain = |path: &str| api.http.get(format!("http://{}{path}", api.addr)).send();
    assert_eq!(
        body(plain("/healthz").await.unwrap()).await,
        json!({"status": "ok"})
    );
    assert_eq!(plain("/readyz").await.unwrap().status(), StatusCode::OK);

    let unknown = api
        .request(Method::GET, "/api/v1/nothing-here")
        .send()
        .await
        .unwrap();
    expect(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let wrong_method = api
        .request(Method::POST, "/api/v1/environments/shop")
        .send()
        .await
        .unwrap();
    expect(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;

    let doc = body(plain("/api/openapi.json").await.unwrap()).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("/api/v1/environments", vec!["get", "post"]),
        (
            "/api/v1/environments/{name}",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/api/v1/environments/{name}/events", vec!["get"]),
        ("/api/v1/environments/{name}/plan", vec!["post"]),
        ("/api/v1/environments/{name}/reconcile", vec!["post"]),
        ("/api/v1/drift", vec!["get"]),
        ("/api/v1/environments/{name}/drift", vec!["get"]),
        ("/api/v1/environments/{name}/drift/accept", vec!["post"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/metrics", vec!["get"]),
        ("/api/openapi.json", vec!["get"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), expected.len(), "{:?}", paths.keys());
    for (path, methods) in expected {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    assert!(doc["components"]["schemas"]["Environment"].is_object());
    assert!(
        doc["components"]["schemas"]["Service"].is_object(),
        "the whole spec is described"
    );
    assert!(
        doc["components"]["schemas"]["EnvironmentSpec"]["properties"]["externalId"].is_object(),
        "{}",
        doc["components"]["schemas"]["EnvironmentSpec"]
    );
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn metrics_answer_without_the_database_and_say_so(pool: PgPool) {
    let api = Api::start(pool.clone()).await;
    api.put(&env("shop")).await;
    let scrape = || async {
        let answer = api
            .http
            .get(format!("http://{}/metrics", api.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        answer.text().await.unwrap()
    };
    let has = |text: &str, line: &str| text.lines().any(|l| l == line);

    let text = scrape().await;
    assert!(has(&text, "plumb_database_up 1"), "{text}");
    assert!(has(&text, "plumb_queue_depth 1"), "{text}");
    assert!(
        has(&text, "plumb_environments{reason=\"Pending\"} 1"),
        "{text}"
    );

    // The database is gone: the scrape still answers, says so, and repeats nothing stale.
    pool.close().await;
    let text = scrape().await;
    assert!(has(&text, "plumb_database_up 0"), "{text}");
    assert!(!text.contains("plumb_queue_depth"), "{text}");
    assert!(!text.contains("plumb_environments"), "{text}");
    assert!(text.contains("plumb_leases_held 0"), "{text}");
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn drift_queries_and_accept_refuse_bad_input_naming_the_field(pool: PgPool) {
    let api = Api::start(pool).await;
    let get = |path: &str| api.request(Method::GET, path).send();
    let bad = get("/api/v1/drift?state=maybe").await.unwrap();
    let error = expect(bad, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(error["fields"][0]["field"], "state", "{error}");
    let bad = get("/api/v1/drift?limit=0").await.unwrap();
    let error = expect(bad, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(error["fields"][0]["field"], "limit", "{error}");
    let bad = get("/api/v1/drift?colour=blue").await.unwrap();
    expect(bad, StatusCode::BAD_REQUEST, "bad_request").await;
    let none = get("/api/v1/environments/nowhere/drift").await.unwrap();
    expect(none, StatusCode::NOT_FOUND, "not_found").await;
    let all = get("/api/v1/drift?state=open").await.unwrap();
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(body(all).await, json!([]));

    assert_eq!(api.put(&env("shop")).await.status(), StatusCode::CREATED);
    let empty = get("/api/v1/environments/shop/drift").await.unwrap();
    assert_eq!(body(empty).await, json!([]));
    let accept = |body: &'static str| {
        api.request(Method::POST, "/api/v1/environments/shop/drift/accept")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let malformed = accept("{").await.unwrap();
    expect(malformed, StatusCode::BAD_REQUEST, "bad_request").await;
    let unknown = accept(r#"{"resource": "x", "field": "y", "extra": 1}"#)
        .await
        .unwrap();
    expect(unknown, StatusCode::BAD_REQUEST, "bad_request").await;
    let missing = accept(r#"{"resource": "ecs-service/shop-api"}"#)
        .await
        .unwrap();
    expect(missing, StatusCode::BAD_REQUEST, "bad_request").await;
    let nothing = accept(r#"{"resource": "ecs-service/shop-api", "field": "desiredCount"}"#)
        .await
        .unwrap();
    let error = expect(nothing, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        error["message"].as_str().unwrap().contains("no open drift"),
        "{error}"
    );
}
