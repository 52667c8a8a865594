//! Reading request bodies: a size cap, a content-type check, and UTF-8.

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;

/// Media types the API understands in request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Json,
    Yaml,
    MergePatch,
}

impl MediaType {
    fn parse(value: &str) -> Option<Self> {
        let essence = value.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Self::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
                Some(Self::Yaml)
            }
            "application/merge-patch+json" => Some(Self::MergePatch),
            _ => None,
        }
    }
}

/// Reads the whole body, at most `limit` bytes, of one of the `accepted` media types.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    accepted: &[MediaType],
) -> Result<(MediaType, String), ApiError> {
    let names = || {
        accepted
            .iter()
            .map(|m| match m {
                MediaType::Json => "application/json",
                MediaType::Yaml => "application/yaml",
                MediaType::MergePatch => "application/merge-patch+json",
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let media = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(MediaType::parse)
        .filter(|m| accepted.contains(m))
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(format!("Content-Type must be one of: {}", names()))
        })?;

    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::PayloadTooLarge(limit))
        }
        Err(e) => {
            return Err(ApiError::bad_field(
                "body",
                format!("could not read the body: {e}"),
            ))
        }
    };
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|e| ApiError::bad_field("body", format!("not valid UTF-8: {e}")))?;
    Ok((media, text))
}
