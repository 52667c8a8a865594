//! A fake AWS endpoint that answers every call with a throttling error.

use std::time::Duration;

use aws_credential_types::Credentials;
use plumb_operator::aws::AwsConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A fake AWS endpoint answering every request with HTTP 400 `ThrottlingException` (JSON
/// protocols) or `Throttling` (query protocol), as AWS does when an account's request rate is exceeded.
pub struct Throttler {
    pub endpoint: String,
    task: JoinHandle<()>,
}

impl Throttler {
    pub async fn start() -> Throttler {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(throttle(stream));
            }
        });
        Throttler { endpoint, task }
    }

    pub fn aws_config(&self) -> AwsConfig {
        AwsConfig {
            endpoint_url: Some(self.endpoint.clone()),
            default_region: "us-east-1".to_owned(),
            static_credentials: Some(Credentials::new("testing", "testing", None, None, "test")),
            initial_backoff: Duration::from_millis(1),
            ..AwsConfig::default()
        }
    }
}

impl Drop for Throttler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (headers and body), answers with a throttling error, closes.
async fn throttle(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let body_start = loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..body_start]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < body_start + length {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
    }
    // Query-protocol services (CloudWatch) send forms and read XML errors; the others JSON.
    let query = head.contains("content-type: application/x-www-form-urlencoded");
    let response = if query {
        let body = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                    <Message>Rate exceeded</Message></Error><RequestId>0</RequestId></ErrorResponse>";
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
             x-amzn-ErrorType: ThrottlingException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
