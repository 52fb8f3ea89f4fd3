//! `/workspaces`: a user's workspaces. Documents come with the knowledge-base work.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{CurrentUser, Json, Path, single_line};
use crate::model::Workspace;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_workspaces, create_workspace)).routes(routes!(
        get_workspace,
        rename_workspace,
        delete_workspace
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceInput {
    /// 1-100 characters, unique (ignoring case) among the owner's workspaces.
    name: String,
}

impl WorkspaceInput {
    fn valid_name(&self) -> Result<&str, ApiError> {
        single_line("name", &self.name, 100)
    }
}

/// The caller's workspaces.
#[utoipa::path(get, path = "/workspaces", tag = "workspaces", security(("bearer" = [])), responses(
    (status = 200, body = [Workspace]),
    (status = 401, body = ErrorBody),
))]
async fn list_workspaces(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<Workspace>>, ApiError> {
    Ok(Json(state.store.list_workspaces(user.id).await?))
}

/// Creates a workspace owned by the caller.
#[utoipa::path(post, path = "/workspaces", tag = "workspaces", security(("bearer" = [])),
    request_body = WorkspaceInput, responses(
    (status = 201, body = Workspace),
    (status = 409, description = "The caller already has a workspace with this name", body = ErrorBody),
    (status = 422, body = ErrorBody),
))]
async fn create_workspace(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<WorkspaceInput>,
) -> Result<(StatusCode, Json<Workspace>), ApiError> {
    let workspace = state.store.create_workspace(user.id, body.valid_name()?).await?;
    Ok((StatusCode::CREATED, Json(workspace)))
}

/// One of the caller's workspaces.
#[utoipa::path(get, path = "/workspaces/{id}", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path)), responses(
    (status = 200, body = Workspace),
    (status = 404, body = ErrorBody),
))]
async fn get_workspace(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Workspace>, ApiError> {
    state.store.workspace(user.id, id).await?.map(Json).ok_or_else(|| ApiError::not_found("Workspace"))
}

/// Renames a workspace.
#[utoipa::path(put, path = "/workspaces/{id}", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = WorkspaceInput, responses(
    (status = 200, body = Workspace),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody),
))]
async fn rename_workspace(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Json(body): Json<WorkspaceInput>,
) -> Result<Json<Workspace>, ApiError> {
    let name = body.valid_name()?;
    state
        .store
        .rename_workspace(user.id, id, name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Workspace"))
}

/// Deletes a workspace the caller owns, with its bots, their tokens and conversations.
#[utoipa::path(delete, path = "/workspaces/{id}", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = ErrorBody),
))]
async fn delete_workspace(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_workspace(user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("Workspace"))
    }
}
