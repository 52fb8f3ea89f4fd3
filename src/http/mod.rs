//! The HTTP API: one router per area, assembled with the edge behaviour every
//! route shares (request ids, logs, metrics, error bodies for unknown routes,
//! wrong methods, oversized bodies and panics).

mod analytics;
pub mod assets;
mod auth;
mod bots;
mod chat;
mod documents;
mod error;
pub mod extract;
mod observe;
mod ops;
mod state;
mod visitors;
mod widget_tokens;
mod workspaces;

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use self::error::ApiError;
pub use self::state::AppState;
use crate::error::Code;

#[derive(OpenApi)]
#[openapi(
    info(title = "Docent", description = "Self-hosted AI chat widget: platform and visitor API."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Platform accounts"),
        (name = "workspaces", description = "Workspaces and their knowledge"),
        (name = "bots", description = "Bots (platform user)"),
        (name = "widget tokens", description = "Tokens that embed a bot's widget in a site"),
        (name = "visitors", description = "What the widget calls for a site's visitors (widget token)"),
        (name = "operations", description = "Health, metrics, this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// The routes and their OpenAPI description, before state is attached.
/// `max_file_mb` sizes the upload route's body limit.
pub fn api(max_file_mb: u32) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(workspaces::router())
        .merge(documents::router(max_file_mb))
        .merge(bots::router())
        .merge(analytics::router())
        .merge(widget_tokens::router())
        .merge(visitors::router())
        .merge(chat::router())
        .merge(ops::router())
}

/// The whole application router for `state`.
pub fn router(state: AppState) -> Router {
    let (routes, _) = api(state.config.ingest.max_file_mb).split_for_parts();
    with_edge(routes.merge(assets::router()), state)
}

/// Wraps `routes` in the edge every route shares: JSON errors for unknown
/// routes, wrong methods and oversized bodies, caught panics, request ids,
/// logs and metrics. Public so tests can put a deliberately failing route behind it.
pub fn with_edge(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(|| async { ApiError::new(Code::NotFound, "There is no such route.") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(Code::MethodNotAllowed, "This route does not accept that method.")
        })
        .layer(DefaultBodyLimit::max(state.config.http.json_limit_bytes))
        .layer(axum::middleware::from_fn(visitors::cors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe::track))
        .with_state(state)
}

/// The OpenAPI document of [`api`], as `/openapi.json` serves it.
pub fn openapi() -> Arc<utoipa::openapi::OpenApi> {
    Arc::new(api(crate::config::IngestConfig::default().max_file_mb).into_openapi())
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "a handler panicked");
    ApiError::new(Code::Internal, "Something went wrong on our side. Please try again.").into_response()
}
