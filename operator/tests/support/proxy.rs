//! A fault proxy in front of moto: forwards every request as it came (method, path, headers
//! with the SigV4 ones, body) and hands back moto's answer, except where a test says
//! otherwise. It can rewrite the JSON answer of an operation (to show states moto never
//! reaches, such as a rollout in progress or one that failed), and drop an answer after moto
//! acted on the request (so the SDK retries a request that already took effect).
//!
//! One request per connection, answered with `Connection: close`; headers up to
//! [`MAX_HEAD`], bodies up to [`MAX_BODY`], `Content-Length` bodies only (the SDK sends no
//! chunked requests to these services). Loopback only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_credential_types::Credentials;
use plumb_operator::aws::AwsConfig;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The largest request head read.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request body read.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How long moto may take to answer one forwarded request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Headers about this one connection, not the request; never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
    "host",
];

/// A change to the JSON answer of an operation.
type Rewrite = Arc<dyn Fn(&mut Value) + Send + Sync>;
/// A change to the text (XML) answer of an operation.
type TextRewrite = Arc<dyn Fn(&str) -> String + Send + Sync>;
/// Which requests of an operation a hook applies to.
type Matches = Box<dyn Fn(&Value) -> bool + Send + Sync>;
/// The proxy's own answer (status, XML body) to a request, or None to forward it to moto.
type Answer = Arc<dyn Fn(&Value) -> Option<(u16, String)> + Send + Sync>;

/// How an answer is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without answering (the answer was lost on the way).
    Close,
    /// An HTTP 500 without a body.
    ServerError,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `DescribeServices`, `CreateService`, … (empty when the request named none).
    pub operation: String,
    /// The request body: JSON as sent, a form as an object of its parameters, else null.
    pub request: Value,
    /// Whether its answer was dropped.
    pub dropped: bool,
}

impl Seen {
    /// The request's `clientToken`, for the operations that take one.
    pub fn client_token(&self) -> Option<&str> {
        self.request.get("clientToken").and_then(Value::as_str)
    }
}

/// A proxy on a free loopback port in front of `upstream`; stops when dropped.
pub struct Proxy {
    pub endpoint: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

struct State {
    upstream: String,
    client: reqwest::Client,
    rewrites: Mutex<HashMap<String, Rewrite>>,
    text_rewrites: Mutex<HashMap<String, TextRewrite>>,
    answers: Mutex<HashMap<String, Answer>>,
    drops: Mutex<Vec<DropRule>>,
    seen: Mutex<Vec<Seen>>,
}

struct DropRule {
    operation: String,
    matches: Matches,
    remaining: usize,
    fault: Fault,
}

impl Proxy {
    /// A proxy forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(UPSTREAM_TIMEOUT)
            .build()
            .expect("HTTP client");
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client,
            rewrites: Mutex::default(),
            text_rewrites: Mutex::default(),
            answers: Mutex::default(),
            drops: Mutex::default(),
            seen: Mutex::default(),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(shared.clone(), stream));
            }
        });
        Proxy {
            endpoint,
            state,
            task,
        }
    }

    /// Client configuration for this proxy, as `Moto::aws_config` is for moto.
    pub fn aws_config(&self) -> AwsConfig {
        AwsConfig {
            endpoint_url: Some(self.endpoint.clone()),
            default_region: "us-east-1".to_owned(),
            static_credentials: Some(Credentials::new("testing", "testing", None, None, "moto")),
            initial_backoff: Duration::from_millis(10),
            ..AwsConfig::default()
        }
    }

    /// From now on, every successful JSON answer to `operation` goes through `change`
    /// (replacing an earlier rewrite of that operation).
    pub fn rewrite(&self, operation: &str, change: impl Fn(&mut Value) + Send + Sync + 'static) {
        lock(&self.state.rewrites).insert(operation.to_owned(), Arc::new(change));
    }

    /// From now on, every successful answer to `operation` of a query-protocol service (XML:
    /// RDS, ElastiCache) goes through `change` as text (replacing an earlier one).
    // Each test file compiles this module on its own; only the data-tier tests use it.
    #[allow(dead_code)]
    pub fn rewrite_text(
        &self,
        operation: &str,
        change: impl Fn(&str) -> String + Send + Sync + 'static,
    ) {
        lock(&self.state.text_rewrites).insert(operation.to_owned(), Arc::new(change));
    }

    /// From now on, requests to `operation` of a query-protocol service go to `answer`
    /// first: what it answers (status, XML) the proxy sends back without asking moto; None
    /// forwards the request. For stand-ins of operations moto lacks.
    #[allow(dead_code)]
    pub fn answer(
        &self,
        operation: &str,
        answer: impl Fn(&Value) -> Option<(u16, String)> + Send + Sync + 'static,
    ) {
        lock(&self.state.answers).insert(operation.to_owned(), Arc::new(answer));
    }

    /// Answers to `operation` are moto's own again.
    pub fn stop_rewrite(&self, operation: &str) {
        lock(&self.state.rewrites).remove(operation);
        lock(&self.state.text_rewrites).remove(operation);
    }

    /// The next `times` requests to `operation` whose body `matches` are forwarded (moto acts
    /// on them) but their answers are dropped as `fault` says.
    pub fn drop_answers(
        &self,
        operation: &str,
        times: usize,
        fault: Fault,
        matches: impl Fn(&Value) -> bool + Send + Sync + 'static,
    ) {
        lock(&self.state.drops).push(DropRule {
            operation: operation.to_owned(),
            matches: Box::new(matches),
            remaining: times,
            fault,
        });
    }

    /// Answers are not dropped any more.
    #[allow(dead_code)]
    pub fn stop_drops(&self) {
        lock(&self.state.drops).clear();
    }

    /// Every request so far, in the order they arrived.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state.seen).clone()
    }

    /// The requests to `operation` so far whose body `matches`.
    pub fn requests(&self, operation: &str, matches: impl Fn(&Value) -> bool) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.operation == operation && matches(&s.request))
            .collect()
    }

    /// Forgets the requests seen so far.
    pub fn forget(&self) {
        lock(&self.state.seen).clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request read from the client.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The operation: the `X-Amz-Target` suffix (JSON protocols), the `Action` parameter of
    /// the form or the query string (query protocols), or for Amazon MQ (REST) the method and
    /// path.
    fn operation(&self, request: &Value) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_owned();
        }
        if let Some(op) = mq_operation(&self.method, &self.target) {
            return op.to_owned();
        }
        if let Some(action) = request.get("Action").and_then(Value::as_str) {
            return action.to_owned();
        }
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        form(query.as_bytes())
            .get("Action")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The body as a value: JSON, a form's parameters, else null.
    fn body_value(&self) -> Value {
        let is_form = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            Value::Object(form(&self.body))
        } else {
            serde_json::from_slice(&self.body).unwrap_or(Value::Null)
        }
    }
}

/// Amazon MQ's operation from a REST request: `/v1/brokers[/{id}[/reboot]]`, `/v1/tags/{arn}`.
fn mq_operation(method: &str, target: &str) -> Option<&'static str> {
    let path = target.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let op = match (method, parts.as_slice()) {
        ("POST", ["v1", "brokers"]) => "CreateBroker",
        ("GET", ["v1", "brokers"]) => "ListBrokers",
        ("GET", ["v1", "brokers", _]) => "DescribeBroker",
        ("PUT", ["v1", "brokers", _]) => "UpdateBroker",
        ("DELETE", ["v1", "brokers", _]) => "DeleteBroker",
        ("POST", ["v1", "brokers", _, "reboot"]) => "RebootBroker",
        ("GET", ["v1", "tags", _]) => "ListTags",
        ("POST", ["v1", "tags", _]) => "CreateTags",
        ("DELETE", ["v1", "tags", _]) => "DeleteTags",
        _ => return None,
    };
    Some(op)
}

/// Serves the one request of a connection.
async fn serve(state: Arc<State>, mut stream: TcpStream) {
    let request = match read_request(&mut stream).await {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(problem) => {
            let _ = stream
                .write_all(&answer(400, &[], problem.as_bytes()))
                .await;
            let _ = stream.shutdown().await;
            return;
        }
    };
    let body = request.body_value();
    let operation = request.operation(&body);
    let fault = take_drop(&state, &operation, &body);
    let own = lock(&state.answers).get(&operation).cloned();
    if let Some((status, xml)) = own.and_then(|respond| respond(&body)) {
        lock(&state.seen).push(Seen {
            operation,
            request: body,
            dropped: false,
        });
        let headers = [("Content-Type".to_owned(), "text/xml".to_owned())];
        let _ = stream
            .write_all(&answer(status, &headers, xml.as_bytes()))
            .await;
        let _ = stream.shutdown().await;
        return;
    }
    let upstream = forward(&state, &request).await;
    lock(&state.seen).push(Seen {
        operation: operation.clone(),
        request: body,
        dropped: fault.is_some(),
    });
    let response = match (fault, upstream) {
        (Some(Fault::Close), _) => {
            // Moto acted on the request; its answer never arrives.
            let _ = stream.shutdown().await;
            return;
        }
        (Some(Fault::ServerError), _) => answer(500, &[], b""),
        (None, Ok((status, headers, body))) => {
            let rewrite = lock(&state.rewrites).get(&operation).cloned();
            let body = match rewrite {
                Some(change) if (200..300).contains(&status) => rewritten(body, &*change),
                _ => body,
            };
            let text = lock(&state.text_rewrites).get(&operation).cloned();
            let body = match (text, String::from_utf8(body)) {
                (Some(change), Ok(text)) if (200..300).contains(&status) => {
                    change(&text).into_bytes()
                }
                (_, Ok(text)) => text.into_bytes(),
                (_, Err(raw)) => raw.into_bytes(),
            };
            answer(status, &headers, &body)
        }
        (None, Err(problem)) => answer(502, &[], problem.as_bytes()),
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

/// The fault of the first drop rule this request meets, counting it down.
fn take_drop(state: &State, operation: &str, body: &Value) -> Option<Fault> {
    let mut drops = lock(&state.drops);
    let rule = drops
        .iter_mut()
        .find(|r| r.remaining > 0 && r.operation == operation && (r.matches)(body))?;
    rule.remaining -= 1;
    Some(rule.fault)
}

fn rewritten(body: Vec<u8>, change: &(dyn Fn(&mut Value) + Send + Sync)) -> Vec<u8> {
    match serde_json::from_slice::<Value>(&body) {
        Ok(mut value) => {
            change(&mut value);
            serde_json::to_vec(&value).expect("JSON")
        }
        Err(_) => body,
    }
}

/// Sends the request to moto; its status, headers and body.
async fn forward(
    state: &State,
    request: &Request,
) -> Result<(u16, Vec<(String, String)>, Vec<u8>), String> {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        if HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let response = state
        .client
        .request(method, format!("{}{}", state.upstream, request.target))
        .headers(headers)
        .body(request.body.clone())
        .send()
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("upstream body: {e}"))?;
    Ok((status, headers, body.to_vec()))
}

/// Reads one request; `None` when the client closed before sending one.
async fn read_request(stream: &mut TcpStream) -> Result<Option<Request>, String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if data.len() > MAX_HEAD {
            return Err("request head too large".to_owned());
        }
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = std::str::from_utf8(&data[..head_end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target)) = (request_line.next(), request_line.next()) else {
        return Err("bad request line".to_owned());
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|t| !t.eq_ignore_ascii_case("identity"))
    {
        return Err("chunked request bodies are not supported".to_owned());
    }
    let length: usize = match request.header("content-length") {
        Some(v) => v.parse().map_err(|_| "bad content-length".to_owned())?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err("request body too large".to_owned());
    }
    let mut body = data.split_off(head_end + 4);
    while body.len() < length {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("request body cut short".to_owned());
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(length);
    request.body = body;
    Ok(Some(request))
}

/// An HTTP/1.1 answer that closes the connection.
fn answer(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A form's parameters (`a=1&b=x%20y`) as an object of strings.
fn form(text: &[u8]) -> Map<String, Value> {
    text.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |b| *b == b'=');
            let name = decode(parts.next().unwrap_or_default());
            let value = decode(parts.next().unwrap_or_default());
            (name, Value::String(value))
        })
        .collect()
}

/// Percent-decoding, `+` as a space.
fn decode(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < text.len() => {
                let hex = std::str::from_utf8(&text[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
