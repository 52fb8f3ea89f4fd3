//! `ApiError`, the one error type at the HTTP edge.
//!
//! Every failure a client can see is a [`Code`]: one table gives each code its
//! HTTP status, and every body has the contract's shape
//! `{"error": {"code": "...", "message": "..."}}` (plus `fields` for validation
//! failures). Server faults keep their cause for the log and send a plain message.

use std::collections::BTreeMap;
use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Every error code the API sends, with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidJson,
    BadRequest,
    Unauthorized,
    InvalidCredentials,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    Forbidden,
    /// The bot of a widget token is deactivated.
    BotInactive,
    /// A browser request from a site the bot does not allow.
    OriginNotAllowed,
    /// A visitor session that timed out or never existed for this bot.
    SessionExpired,
    /// The bot has as many active visitor sessions as it may.
    SessionLimit,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnsupportedFileType,
    ValidationFailed,
    /// A URL that points at a loopback, private or otherwise internal address.
    UrlNotAllowed,
    RateLimited,
    /// The language model failed, or answered something that is not a reply.
    LlmUnavailable,
    /// The language model took too long.
    LlmTimeout,
    Internal,
    Unavailable,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    pub fn status(self) -> StatusCode {
        self.entry().1
    }

    fn entry(self) -> (&'static str, StatusCode) {
        use StatusCode as S;
        match self {
            Self::InvalidJson => ("invalid_json", S::BAD_REQUEST),
            Self::BadRequest => ("bad_request", S::BAD_REQUEST),
            Self::Unauthorized => ("unauthorized", S::UNAUTHORIZED),
            Self::InvalidCredentials => ("invalid_credentials", S::UNAUTHORIZED),
            Self::InvalidToken => ("invalid_token", S::UNAUTHORIZED),
            Self::TokenExpired => ("token_expired", S::UNAUTHORIZED),
            Self::TokenRevoked => ("token_revoked", S::UNAUTHORIZED),
            Self::Forbidden => ("forbidden", S::FORBIDDEN),
            Self::BotInactive => ("bot_inactive", S::FORBIDDEN),
            Self::OriginNotAllowed => ("origin_not_allowed", S::FORBIDDEN),
            Self::SessionExpired => ("session_expired", S::UNAUTHORIZED),
            Self::SessionLimit => ("session_limit", S::TOO_MANY_REQUESTS),
            Self::NotFound => ("not_found", S::NOT_FOUND),
            Self::MethodNotAllowed => ("method_not_allowed", S::METHOD_NOT_ALLOWED),
            Self::Conflict => ("conflict", S::CONFLICT),
            Self::PayloadTooLarge => ("payload_too_large", S::PAYLOAD_TOO_LARGE),
            Self::UnsupportedMediaType => ("unsupported_media_type", S::UNSUPPORTED_MEDIA_TYPE),
            Self::UnsupportedFileType => ("unsupported_file_type", S::UNSUPPORTED_MEDIA_TYPE),
            Self::ValidationFailed => ("validation_failed", S::UNPROCESSABLE_ENTITY),
            Self::UrlNotAllowed => ("url_not_allowed", S::UNPROCESSABLE_ENTITY),
            Self::RateLimited => ("rate_limited", S::TOO_MANY_REQUESTS),
            Self::LlmUnavailable => ("llm_unavailable", S::BAD_GATEWAY),
            Self::LlmTimeout => ("llm_timeout", S::GATEWAY_TIMEOUT),
            Self::Internal => ("internal_error", S::INTERNAL_SERVER_ERROR),
            Self::Unavailable => ("service_unavailable", S::SERVICE_UNAVAILABLE),
        }
    }
}

/// Per-field validation messages, keyed by the JSON field name.
pub type FieldErrors = BTreeMap<String, String>;

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

/// Formats an error with its whole `source()` chain, for the log.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(err) = cause {
            write!(f, ": {err}")?;
            cause = err.source();
        }
        Ok(())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Conflict(what) => Self::new(Code::Conflict, what),
            other => Self::internal(other),
        }
    }
}
