//! `ApiError`, the one error type at the HTTP edge.
//!
//! Every body has the contract's shape `{"error": {"code": "...", "message":
//! "..."}}` (plus `fields` for validation failures), its status from the
//! [`Code`] table. Server faults keep their cause for the log and send a plain
//! message. The services' own errors become an `ApiError` here, at the edge.

use std::collections::BTreeMap;
use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Code, ErrorChain, FieldErrors};
use crate::store::StoreError;

/// An error on its way to becoming an HTTP response.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    message: String,
    fields: Option<FieldErrors>,
    retry_after: Option<u64>,
    /// The cause of a server fault, logged and never sent.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), fields: None, retry_after: None, source: None }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} not found."))
    }

    pub fn validation(fields: FieldErrors) -> Self {
        let message = match fields.len() {
            1 => "One field is not valid.".to_owned(),
            n => format!("{n} fields are not valid."),
        };
        Self { fields: Some(fields), ..Self::new(Code::ValidationFailed, message) }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(BTreeMap::from([(field.to_owned(), message.into())]))
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(Code::RateLimited, "Too many attempts. Try again later.")
        }
    }

    /// Adds `Retry-After` (seconds) to the answer.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// A server fault: the client gets a plain message, the log gets `source`.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(Code::Internal, "Something went wrong on our side. Please try again.")
        }
    }

    pub fn code(&self) -> Code {
        self.code
    }

    /// The sentence sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// The JSON body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `validation_failed`.
    pub code: &'static str,
    /// A sentence for a person.
    pub message: String,
    /// For `validation_failed`: what is wrong with each field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldErrors>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if let Some(source) = &self.source {
            tracing::error!(error = %ErrorChain(source.as_ref()), "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.as_str(), message: self.message, fields: self.fields },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: say which scheme would be accepted.
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => Self::new(Code::Conflict, what),
            other => Self::internal(other),
        }
    }
}
