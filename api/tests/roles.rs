//! Every route against every caller, through real HTTP: who may do what is decided before the
//! body is read, the environment is looked up or AWS is called. One table: a new route is one
//! more row (and the OpenAPI document is checked against the table, so a route without a row
//! fails here).

#[path = "support/hang_up.rs"]
mod hang_up;
mod support;

use std::collections::BTreeSet;

use hang_up::HangUp;
use plumb_api::{ApiConfig, AppState};
use plumb_operator::aws::CallCounter;
use plumb_operator::reconcile::Reconciler;
use plumb_operator::spec::Environment;
use plumb_operator::store::{Role, Store};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Viewer,
    Editor,
    Admin,
    /// An admin token, revoked.
    Revoked,
}

const CALLERS: [Caller; 5] = [
    Caller::Anonymous,
    Caller::Viewer,
    Caller::Editor,
    Caller::Admin,
    Caller::Revoked,
];

impl Caller {
    /// The environment this caller's requests name, so one caller's writes (a delete) never
    /// change what the next caller meets.
    fn env(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous-shop",
            Self::Viewer => "viewer-shop",
            Self::Editor => "editor-shop",
            Self::Admin => "admin-shop",
            Self::Revoked => "revoked-shop",
        }
    }
}

/// The least a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    Viewer,
    Editor,
}

/// What a request carries.
#[derive(Debug, Clone, Copy)]
enum Body {
    Empty,
    /// The caller's environment, as JSON.
    Environment,
    /// A new environment, as JSON.
    NewEnvironment,
    MergePatch,
    /// A drift to accept.
    Accept,
    /// Not JSON at all.
    Malformed,
}

/// One row: a route, what it needs, and its answer to a caller who has that.
struct Route {
    name: &'static str,
    method: Method,
    /// `{env}` stands for the caller's environment.
    path: &'static str,
    body: Body,
    needs: Needs,
    allowed: StatusCode,
    /// Whether an allowed call reaches AWS.
    reaches_aws: bool,
}

/// The table. AWS is a listener that hangs up, so the routes that reach it answer 502.
#[rustfmt::skip]
fn routes() -> Vec<Route> {
    use Body::*;
    let row = |name, method, path, body, needs, allowed: u16| Route {
        name,
        method,
        path,
        body,
        needs,
        allowed: StatusCode::from_u16(allowed).unwrap(),
        reaches_aws: allowed == 502,
    };
    let env = "/api/v1/environments/{env}";
    let plan = "/api/v1/environments/{env}/plan";
    vec![
        row("list", Method::GET, "/api/v1/environments", Empty, Needs::Viewer, 200),
        row("create", Method::POST, "/api/v1/environments", NewEnvironment, Needs::Editor, 201),
        row("get", Method::GET, env, Empty, Needs::Viewer, 200),
        row("replace", Method::PUT, env, Environment, Needs::Editor, 200),
        row("patch", Method::PATCH, env, MergePatch, Needs::Editor, 200),
        row("events", Method::GET, "/api/v1/environments/{env}/events", Empty, Needs::Viewer, 200),
        row("plan the stored spec", Method::POST, plan, Empty, Needs::Viewer, 502),
        row("plan a spec in the body", Method::POST, plan, Environment, Needs::Editor, 502),
        row("plan a malformed body", Method::POST, plan, Malformed, Needs::Editor, 400),
        row("drift", Method::GET, "/api/v1/drift", Empty, Needs::Viewer, 200),
        row("environment drift", Method::GET, "/api/v1/environments/{env}/drift", Empty, Needs::Viewer, 200),
        // The environment has no drift to accept.
        row("accept drift", Method::POST, "/api/v1/environments/{env}/drift/accept", Accept, Needs::Editor, 404),
        row("reconcile", Method::POST, "/api/v1/environments/{env}/reconcile", Empty, Needs::Editor, 202),
        row("delete", Method::DELETE, env, Empty, Needs::Editor, 202),
        row("healthz", Method::GET, "/healthz", Empty, Needs::Nothing, 200),
        row("readyz", Method::GET, "/readyz", Empty, Needs::Nothing, 200),
        row("metrics", Method::GET, "/metrics", Empty, Needs::Nothing, 200),
        row("openapi", Method::GET, "/api/openapi.json", Empty, Needs::Nothing, 200),
    ]
}

/// The answer `caller` must get from `route`.
fn expected(route: &Route, caller: Caller) -> StatusCode {
    match (route.needs, caller) {
        (Needs::Nothing, _) => route.allowed,
        (_, Caller::Anonymous | Caller::Revoked) => StatusCode::UNAUTHORIZED,
        (Needs::Editor, Caller::Viewer) => StatusCode::FORBIDDEN,
        _ => route.allowed,
    }
}

fn environment(name: &str) -> Value {
    json!({
        "apiVersion": "plumb.dev/v1",
        "kind": "Environment",
        "metadata": {"name": name, "labels": {"team": "payments"}},
        "spec": {"region": "us-east-1"}
    })
}

struct World {
    http: Client,
    base: String,
    aws: HangUp,
    secrets: Vec<(Caller, String)>,
    _served: support::Served,
}

impl World {
    /// The API with a token per caller (the revoked one revoked) and an environment per
    /// caller, AWS configured as `aws` says.
    async fn start(pool: PgPool, aws: HangUp, config: plumb_operator::aws::AwsConfig) -> World {
        let store = Store::from_pool(pool);
        let mut secrets = Vec::new();
        for (caller, role) in [
            (Caller::Viewer, Role::Viewer),
            (Caller::Editor, Role::Editor),
            (Caller::Admin, Role::Admin),
            (Caller::Revoked, Role::Admin),
        ] {
            let token = store.create_token(caller.env(), role).await.unwrap();
            if caller == Caller::Revoked {
                assert!(store.revoke_token(token.token.id).await.unwrap());
            }
            secrets.push((caller, token.secret));
        }
        for caller in CALLERS {
            let env: Environment = serde_json::from_value(environment(caller.env())).unwrap();
            store.create(&env, "test").await.unwrap();
        }
        let state = AppState::new(store, ApiConfig::default(), config).unwrap();
        let served = support::serve(state).await;
        World {
            http: Client::new(),
            base: format!("http://{}", served.addr),
            aws,
            secrets,
            _served: served,
        }
    }

    fn request(&self, caller: Caller, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match self.secrets.iter().find(|(c, _)| *c == caller) {
            Some((_, secret)) => request.bearer_auth(secret),
            None => request,
        }
    }
}

fn with_body(request: RequestBuilder, body: Body, caller: Caller) -> RequestBuilder {
    match body {
        Body::Empty => request,
        Body::Environment => request.json(&environment(caller.env())),
        Body::NewEnvironment => request.json(&environment(&format!("{}-new", caller.env()))),
        Body::MergePatch => request
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"metadata":{"labels":{"tier":"gold"}}}"#),
        Body::Accept => {
            request.json(&json!({"resource": "ecs-service/x", "field": "desiredCount"}))
        }
        Body::Malformed => request.header("content-type", "application/json").body("{"),
    }
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn every_route_answers_every_caller_as_its_role_allows(pool: PgPool) {
    let aws = HangUp::start().await;
    let config = aws.aws_config();
    let world = World::start(pool, aws, config).await;
    let mut wrong = Vec::new();
    for route in routes() {
        for caller in CALLERS {
            let path = route.path.replace("{env}", caller.env());
            let before = world.aws.connections();
            let request = world.request(caller, route.method.clone(), &path);
            let response = with_body(request, route.body, caller).send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or_default();
            let want = expected(&route, caller);
            let cell = format!("{} as {caller:?}", route.name);
            if status != want {
                wrong.push(format!("{cell}: {status}, want {want}: {body}"));
            }
            let code = match want {
                StatusCode::UNAUTHORIZED => Some("unauthorized"),
                StatusCode::FORBIDDEN => Some("forbidden"),
                _ => None,
            };
            if code.is_some() && body["code"].as_str() != code {
                wrong.push(format!("{cell}: body {body}, want code {code:?}"));
            }
            let reached = world.aws.connections() > before;
            let should_reach = route.reaches_aws && want == route.allowed;
            if reached != should_reach {
                wrong.push(format!(
                    "{cell}: reached AWS {reached}, want {should_reach}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn the_table_has_a_row_for_every_documented_route(pool: PgPool) {
    let aws = HangUp::start().await;
    let config = aws.aws_config();
    let world = World::start(pool, aws, config).await;
    let doc: Value = world
        .request(Caller::Anonymous, Method::GET, "/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            let path = path.replace("{name}", "{env}");
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_ascii_uppercase(), path.clone()))
        })
        .collect();
    let table: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, table);
}

#[sqlx::test(migrator = "plumb_operator::store::MIGRATOR")]
async fn a_role_in_an_account_the_server_does_not_allow_is_422_before_aws(pool: PgPool) {
    let aws = HangUp::start().await;
    let mut config = aws.aws_config();
    config.allowed_accounts = ["111111111111".to_owned()].into();
    let store = Store::from_pool(pool.clone());
    let reconciler = Reconciler::new(store, config.clone(), CallCounter::new());
    let world = World::start(pool, aws, config).await;
    let with_role = |account: &str| {
        let mut env = environment(Caller::Editor.env());
        env["spec"]["roleArn"] = json!(format!("arn:aws:iam::{account}:role/plumb"));
        env
    };
    let plan = "/api/v1/environments/editor-shop/plan";

    let refused = world
        .request(Caller::Editor, Method::POST, plan)
        .json(&with_role("222222222222"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "account_not_allowed", "{body}");
    assert_eq!(body["fields"][0]["field"], "spec.roleArn", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("222222222222"), "{message}");
    assert!(message.contains("--allowed-accounts"), "{message}");
    assert_eq!(world.aws.connections(), 0, "refused before any AWS call");

    // The stored spec is checked the same way when the controller reconciles it; asking
    // for a reconcile only queues it.
    let stored = world
        .request(
            Caller::Editor,
            Method::PUT,
            "/api/v1/environments/editor-shop",
        )
        .json(&with_role("222222222222"))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    let reconcile = world
        .request(
            Caller::Editor,
            Method::POST,
            "/api/v1/environments/editor-shop/reconcile",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reconcile.status(), StatusCode::ACCEPTED);
    let error = reconciler.reconcile("editor-shop").await.unwrap_err();
    assert_eq!(error.kind(), "account-not-allowed", "{error}");
    assert!(error.is_permanent());
    assert!(error.to_string().contains("222222222222"), "{error}");
    assert_eq!(world.aws.connections(), 0);

    // A listed account's role goes on to STS (here, a listener that hangs up).
    let allowed = world
        .request(Caller::Editor, Method::POST, plan)
        .json(&with_role("111111111111"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::BAD_GATEWAY);
    assert!(world.aws.connections() > 0);
}
