//! Helpers shared by integration tests: a moto server of the test's own, and a network in it.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use plumb_operator::aws::{clients_for, AwsConfig, CallCounter, Clients};

/// How long moto may take to answer after it was started.
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Tasks moto reports running for every service (see `Moto::start`).
pub const MOTO_RUNNING_TASKS: &str = "100000";

/// A moto server on a free loopback port, killed when dropped.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts moto (`PLUMB_MOTO_SERVER`, else the virtualenv `scripts/moto.sh` installs) and
    /// waits until it answers. Panics when it cannot.
    pub async fn start() -> Moto {
        let binary = moto_server();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                // moto keeps a deployment IN_PROGRESS until as many tasks run as desired, and
                // runs none by itself; this many running makes every rollout COMPLETED at
                // once, as AWS reports it once a deployment reached steady state.
                .env("MOTO_ECS_SERVICE_RUNNING", MOTO_RUNNING_TASKS)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {}: {e} (run scripts/moto.sh install)",
                        binary.display()
                    )
                });
            let endpoint = format!("http://127.0.0.1:{port}");
            if answers(&mut child, &endpoint).await {
                return Moto { endpoint, child };
            }
            // Lost the port to someone else (or moto failed): try another one.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto server did not start");
    }

    /// Client configuration for this server: its endpoint, dummy credentials, fast retries.
    pub fn aws_config(&self) -> AwsConfig {
        AwsConfig {
            endpoint_url: Some(self.endpoint.clone()),
            default_region: "us-east-1".to_owned(),
            static_credentials: Some(Credentials::new("testing", "testing", None, None, "moto")),
            initial_backoff: Duration::from_millis(10),
            ..AwsConfig::default()
        }
    }

    /// Clients of the test's own that read and change moto directly in us-east-1, counting
    /// into a counter of their own (not the reconciler's).
    // Each test file compiles this module on its own; the adapter tests build their clients
    // with a counter they share.
    #[allow(dead_code)]
    pub async fn clients(&self) -> Clients {
        clients_for(&self.aws_config(), "us-east-1", None, CallCounter::new())
            .await
            .expect("clients for moto")
    }

    /// One EC2 Query API call (no EC2 SDK needed for test fixtures); returns the XML answer.
    pub async fn ec2(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut body = format!("Action={action}&Version=2016-11-15");
        for (k, v) in params {
            body.push_str(&format!("&{k}={}", urlencode(v)));
        }
        let response = reqwest::Client::new()
            .post(&self.endpoint)
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/ec2/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("EC2 call to moto");
        let status = response.status();
        let text = response.text().await.expect("EC2 answer");
        assert!(status.is_success(), "EC2 {action}: {status}: {text}");
        text
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Subnets and a security group that exist in moto.
pub struct Network {
    pub subnets: Vec<String>,
    pub security_group: String,
}

/// A VPC with two subnets and a security group: moto checks that a service's exist.
pub async fn network(moto: &Moto) -> Network {
    let vpc = xml_value(
        &moto.ec2("CreateVpc", &[("CidrBlock", "10.0.0.0/16")]).await,
        "vpcId",
    );
    let mut subnets = Vec::new();
    for cidr in ["10.0.2.0/24", "10.0.1.0/24"] {
        let answer = moto
            .ec2("CreateSubnet", &[("VpcId", &vpc), ("CidrBlock", cidr)])
            .await;
        subnets.push(xml_value(&answer, "subnetId"));
    }
    subnets.sort();
    let answer = moto
        .ec2(
            "CreateSecurityGroup",
            &[
                ("GroupName", "shop-services"),
                ("GroupDescription", "services"),
                ("VpcId", &vpc),
            ],
        )
        .await;
    Network {
        subnets,
        security_group: xml_value(&answer, "groupId"),
    }
}

/// The text of the first `<tag>…</tag>` in an XML answer.
pub fn xml_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"));
    let end = start
        + xml[start..]
            .find(&format!("</{tag}>"))
            .expect("closing tag");
    xml[start..end].to_owned()
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("PLUMB_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME");
    cache.join("plumb/moto-venv/bin/moto_server")
}

fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Waits until moto answers; false when it exits or takes too long.
async fn answers(child: &mut Child, endpoint: &str) -> bool {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + MOTO_START_TIMEOUT;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        let ready = client
            .get(format!("{endpoint}/moto-api/"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// An SNS topic named `name` and an SQS queue subscribed to it (SNS's envelope, not raw
/// delivery), made with `clients` in their region: (topic ARN, queue URL).
#[allow(dead_code)]
pub async fn subscribed_queue(clients: &Clients, name: &str) -> (String, String) {
    let arn = clients
        .sns
        .create_topic()
        .name(name)
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic ARN");
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name(format!("{name}-queue"))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue URL");
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names("QueueArn".into())
        .send()
        .await
        .expect("queue attributes");
    let queue_arn = attributes
        .attributes
        .and_then(|a| a.into_iter().find(|(k, _)| k.as_str() == "QueueArn"))
        .map(|(_, arn)| arn)
        .expect("queue ARN");
    clients
        .sns
        .subscribe()
        .topic_arn(&arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe");
    (arn, queue_url)
}

/// Every message `queue_url` holds now, parsed as JSON (each removed from the queue).
#[allow(dead_code)]
pub async fn drain(clients: &Clients, queue_url: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    loop {
        let answer = clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = answer.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for message in messages {
            let body = message.body.as_deref().expect("message body");
            out.push(serde_json::from_str(body).expect("a JSON message"));
            clients
                .sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle.expect("receipt handle"))
                .send()
                .await
                .expect("delete");
        }
    }
}
