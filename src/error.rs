//! The error codes of the API, and what every layer shares about errors.
//!
//! Every failure a client can see is a [`Code`]: one table gives each code its
//! HTTP status. Validation reports [`FieldErrors`], and [`ErrorChain`] writes an
//! error with its causes for the log. The HTTP edge turns these into responses
//! (`http::error::ApiError`).

use std::collections::BTreeMap;
use std::fmt;

use http::StatusCode;

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
