//! A small client for Plumb's REST API.

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::ServerArgs;

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// An error answer from the server, with its field errors.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiFailure {
    #[serde(skip)]
    pub status: StatusCode,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
}

#[derive(Debug, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status)?;
        for field in &self.fields {
            write!(f, "\n  {}: {}", field.field, field.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

impl Client {
    pub fn new(args: &ServerArgs) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            base: args.server.trim_end_matches('/').to_owned(),
            token: args.token.clone(),
        })
    }

    /// The URL of `segments` below the server's base, with `query` encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> anyhow::Result<Url> {
        let mut url = Url::parse(&self.base)
            .with_context(|| format!("invalid server URL {:?}", self.base))?;
        url.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("invalid server URL {:?}", self.base))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends a request; a non-2xx answer becomes an [`ApiFailure`] error.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        json: Option<&serde_json::Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(json) = json {
            request = request.json(json);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the Plumb server at {}", self.base))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let mut failure: ApiFailure = serde_json::from_str(&text).unwrap_or(ApiFailure {
            status,
            message: text,
            fields: Vec::new(),
        });
        failure.status = status;
        Err(failure.into())
    }
}
