//! An AWS endpoint that counts connections and hangs up on each: a call that gets this far
//! fails at once (502), and the count tells whether a request reached AWS at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use plumb_operator::aws::AwsConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct HangUp {
    pub endpoint: String,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl HangUp {
    pub async fn start() -> HangUp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        HangUp {
            endpoint,
            connections,
            task,
        }
    }

    /// Connections so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Clients pointed here: fixed credentials (nothing else is looked up), one attempt.
    pub fn aws_config(&self) -> AwsConfig {
        AwsConfig {
            endpoint_url: Some(self.endpoint.clone()),
            default_region: "us-east-1".to_owned(),
            static_credentials: Some(Credentials::new("testing", "testing", None, None, "test")),
            max_attempts: 1,
            initial_backoff: Duration::from_millis(1),
            ..AwsConfig::default()
        }
    }
}

impl Drop for HangUp {
    fn drop(&mut self) {
        self.task.abort();
    }
}
