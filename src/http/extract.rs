//! Extractors whose failures are `ApiError`s in the contract's shape, instead of
//! axum's plain-text rejections.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::error::{Code, FieldErrors};
use crate::model::User;

/// A JSON body: 415 without a JSON content type, 413 over the limit, 400
/// `invalid_json` when it does not parse, 422 with `fields` when it parses but
/// has the wrong shape (a missing, mistyped or unknown field).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "Send the body as JSON, with `Content-Type: application/json`.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(Code::PayloadTooLarge, "The request body is too large.")
            } else {
                ApiError::new(Code::BadRequest, "The request body could not be read.")
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON object into `T`, telling syntax errors (400) from shape errors (422).
///
/// Every request body of this API is an object; serde would also fill a struct
/// from an array (`["docs"]`), which nobody means, so that is refused up front.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err(ApiError::field("body", "must be a JSON object")),
            Err(err) => Err(invalid_json(&err)),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let err = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => match de.end() {
            Ok(()) => return Ok(value),
            Err(err) => return Err(invalid_json(&err)),
        },
        Err(err) => err,
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    if !inner.is_data() {
        return Err(invalid_json(&inner));
    }
    let message = strip_position(&inner.to_string());
    let quoted = message.split('`').nth(1).map(str::to_owned);
    let (field, text) = if let (true, Some(name)) = (message.starts_with("unknown field"), &quoted) {
        (join_path(&path, name), "is not a known field".to_owned())
    } else if let (true, Some(name)) = (message.starts_with("missing field"), &quoted) {
        (join_path(&path, name), "is required".to_owned())
    } else if path == "." {
        ("body".to_owned(), message)
    } else {
        (path, message)
    };
    Err(ApiError::validation(FieldErrors::from([(field, text)])))
}

fn invalid_json(err: &serde_json::Error) -> ApiError {
    ApiError::new(Code::InvalidJson, format!("The body is not valid JSON: {err}."))
}

/// The field's full path; serde_path_to_error already ends some paths with it.
fn join_path(path: &str, name: &str) -> String {
    if path == "." || path == name {
        name.to_owned()
    } else if path.ends_with(&format!(".{name}")) {
        path.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// serde_json appends " at line 1 column 9"; the field name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A one-line text field: trimmed, 1-`max` characters, no control characters;
/// otherwise a 422 naming `field`.
pub fn single_line<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, ApiError> {
    let value = value.trim();
    match value.chars().count() {
        0 => Err(ApiError::field(field, "must not be empty")),
        n if n > max => Err(ApiError::field(field, format!("must be at most {max} characters"))),
        _ if value.chars().any(char::is_control) => {
            Err(ApiError::field(field, "must not contain control characters"))
        }
        _ => Ok(value),
    }
}

/// Path parameters; one that does not parse names nothing that exists (404).
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found("Resource")),
            Err(other) => Err(ApiError::internal(other)),
        }
    }
}

/// Query-string parameters; a bad one is 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::new(
                    Code::BadRequest,
                    format!("The query string is not valid: {}", rejection.body_text()),
                )
            })
    }
}

/// The signed-in platform user, from `Authorization: Bearer <access token>`.
pub struct CurrentUser {
    pub id: i64,
    pub user: User,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::new(Code::Unauthorized, "Sign in first: send `Authorization: Bearer <access token>`.")
        })?;
        let user = state.auth.authenticate(token).await?;
        Ok(Self { id: user.id, user })
    }
}

/// The token of an `Authorization: Bearer ...` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The client's address: the peer, or behind a trusted proxy the last
/// `X-Forwarded-For` hop (the one our proxy added; earlier ones are the client's word).
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.trust_proxy_headers {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
                .next_back();
            if forwarded.is_some() {
                return Ok(Self(forwarded));
            }
        }
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip())))
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// A time given as an RFC 3339 query parameter, as unix ms; a bad one is a
/// validation error on `field`.
pub fn time_param(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|text| {
            crate::clock::parse_rfc3339(text)
                .ok_or_else(|| ApiError::field(field, "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))
        })
        .transpose()
}
