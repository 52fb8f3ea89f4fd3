//! `/workspaces/{id}/documents` and `/workspaces/{id}/search`: a workspace's knowledge.

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{CurrentUser, Json, Path, single_line};
use crate::chat::{self, Answerability};
use crate::clock::now_ms;
use crate::error::Code;
use crate::model::{AddOutcome, Document, NewDocument};
use crate::rag::SearchMode;
use crate::rag::extract::Kind;
use crate::rag::fetch::FetchError;
use crate::rag::web::{self, Probe, WebError};

const MAX_SEARCH_LIMIT: usize = 50;

pub fn router(max_file_mb: u32) -> OpenApiRouter<AppState> {
    // Uploads may be much larger than the JSON limit; the files' own limit is
    // checked per file below.
    let upload_limit = usize::try_from(max_file_mb).unwrap_or(1024) * 1024 * 1024 + 64 * 1024;
    OpenApiRouter::new()
        .routes(routes!(add_documents, list_documents))
        .layer(DefaultBodyLimit::max(upload_limit))
        .routes(routes!(get_document, update_document, delete_document))
        .routes(routes!(search))
}

/// JSON form of adding a document: text with a title, or a page or sitemap by its URL.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextDocument {
    /// 1-200 characters. Required with `text`; for a page, optional (it then
    /// takes the page's own title).
    title: Option<String>,
    /// The document's text; Markdown headings (`#`) are understood.
    text: Option<String>,
    /// With `text`: where readers can see this document; citations link here.
    /// Alone: the page to fetch (HTML, plain text or Markdown), or a sitemap
    /// whose pages of the same site are all added.
    url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AddedDocument {
    #[serde(flatten)]
    document: Document,
    /// True when the workspace already held this exact content: nothing new was stored.
    duplicate: bool,
}

#[derive(Serialize, ToSchema)]
pub struct AddedDocuments {
    documents: Vec<AddedDocument>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentUpdate {
    title: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    url: Option<Option<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// What to look for, 1-1,000 characters.
    query: String,
    /// Results wanted, 1-50 (default 5).
    limit: Option<usize>,
    /// `hybrid` (default: keyword and dense search fused), `keyword` or `dense`.
    mode: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    document_id: i64,
    title: String,
    source: String,
    /// The document's URL with the passage's `#fragment`, or `null`.
    url: Option<String>,
    chunk_id: i64,
    /// Where the passage sits: "Guide > Install > Linux".
    heading_path: String,
    text: String,
    /// Relevance; higher is better, comparable within one answer only.
    score: f32,
    /// Cosine similarity of passage and query (-1 to 1), when dense search ranked
    /// this passage; comparable across queries. `null` otherwise.
    similarity: Option<f32>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    results: Vec<SearchResult>,
    /// Whether these results answer the query, as a bot's chat turn judges
    /// it: the probability and the signals it was made from.
    answerability: Answerability,
}

fn valid_title(title: &str) -> Result<String, ApiError> {
    single_line("title", title, 200).map(str::to_owned)
}

fn valid_url(url: &str) -> Result<String, ApiError> {
    let parsed =
        url::Url::parse(url.trim()).map_err(|_| ApiError::field("url", "must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() || url.len() > 2048 {
        return Err(ApiError::field("url", "must be an http:// or https:// address"));
    }
    Ok(parsed.to_string())
}

fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl AppState {
    async fn member_workspace(&self, user: &CurrentUser, workspace_id: i64) -> Result<(), ApiError> {
        match self.store.workspace(user.id, workspace_id).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found("Workspace")),
        }
    }

    /// A document of one of the caller's workspaces, or 404.
    async fn visible_document(
        &self,
        user: &CurrentUser,
        workspace_id: i64,
        id: i64,
    ) -> Result<Document, ApiError> {
        self.store.document(user.id, workspace_id, id).await?.ok_or_else(|| ApiError::not_found("Document"))
    }

    /// Brings this node's index up to date after a change; search would do it
    /// anyway, so a failure here is logged, not reported.
    async fn sync_index(&self) {
        if let Err(err) = self.knowledge.sync().await {
            tracing::warn!(error = %crate::error::ErrorChain(&err), "search index sync failed");
        }
    }

    async fn add(&self, doc: NewDocument) -> Result<AddedDocument, ApiError> {
        let added = match self.store.add_document(&doc, now_ms()).await? {
            AddOutcome::Added(document) => AddedDocument { document, duplicate: false },
            AddOutcome::Duplicate(document) => AddedDocument { document, duplicate: true },
        };
        self.knowledge.job_added();
        Ok(added)
    }
}

/// Adds documents: a multipart upload of one or more `file` fields (`.txt`,
/// `.md`, `.html`, `.pdf`, `.docx`), JSON `{title, text, url}`, or JSON `{url}`:
/// a page, or a sitemap (an address ending in `.xml` or naming a sitemap) whose
/// pages of its own site each become a document. Pages are fetched in the
/// background, like all processing; watch `status` go from `pending` to `ready`
/// or `failed`. Addresses on loopback, private or link-local networks are refused
/// (`url_not_allowed`) unless `ingest.allow_private_urls` is set.
#[utoipa::path(post, path = "/workspaces/{id}/documents", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body(content((TextDocument = "application/json"), (Object = "multipart/form-data"))),
    responses(
        (status = 202, body = AddedDocuments),
        (status = 404, body = ErrorBody),
        (status = 413, description = "A file is over `ingest.max_file_mb`", body = ErrorBody),
        (status = 415, description = "`unsupported_file_type` (files, or XML that is no sitemap)",
            body = ErrorBody),
        (status = 422, description = "`validation_failed`; `url_not_allowed` for an internal address",
            body = ErrorBody),
    ))]
async fn add_documents(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(workspace_id): Path<i64>,
    request: Request,
) -> Result<(StatusCode, Json<AddedDocuments>), ApiError> {
    state.member_workspace(&user, workspace_id).await?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let documents = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|_| ApiError::new(Code::BadRequest, "The multipart body is not valid."))?;
        uploaded(&state, workspace_id, multipart).await?
    } else {
        let Json(body) = Json::<TextDocument>::from_request(request, &state).await?;
        match (body.text, body.url) {
            (Some(text), url) => vec![text_document(&state, workspace_id, body.title, text, url).await?],
            (None, Some(url)) => web_documents(&state, workspace_id, body.title, &url).await?,
            (None, None) => return Err(ApiError::field("text", "is required (or send {url})")),
        }
    };
    Ok((StatusCode::ACCEPTED, Json(AddedDocuments { documents })))
}

async fn text_document(
    state: &AppState,
    workspace_id: i64,
    title: Option<String>,
    text: String,
    url: Option<String>,
) -> Result<AddedDocument, ApiError> {
    let url = url.as_deref().map(valid_url).transpose()?;
    let title = valid_title(title.as_deref().unwrap_or_default())?;
    let max = usize::try_from(state.config.ingest.max_file_mb).unwrap_or(1024) * 1024 * 1024;
    if text.len() > max {
        return Err(ApiError::new(Code::PayloadTooLarge, "The text is larger than ingest.max_file_mb."));
    }
    let content = text.into_bytes();
    state
        .add(NewDocument {
            workspace_id,
            source: title.clone(),
            title,
            url,
            kind: Kind::Markdown.as_str().to_owned(),
            content_hash: content_hash(&content),
            content,
        })
        .await
}

/// `{url}`: one page, or the pages a sitemap lists, each stored as a `webpage`
/// document whose content is its address; a worker fetches it later. The
/// address is checked now, and a sitemap is read now.
async fn web_documents(
    state: &AppState,
    workspace_id: i64,
    title: Option<String>,
    url: &str,
) -> Result<Vec<AddedDocument>, ApiError> {
    let url =
        url::Url::parse(&valid_url(url)?).map_err(|_| ApiError::field("url", "must be an absolute URL"))?;
    let url = web::normalise(&url);
    let title = title.as_deref().map(valid_title).transpose()?;
    let fetcher = state.knowledge.fetcher();
    fetcher.check_destination(&url).await.map_err(|err| web_error(WebError::Fetch(err)))?;
    let max_pages = usize::try_from(state.config.ingest.max_sitemap_pages).unwrap_or(usize::MAX);
    let pages = if web::looks_like_sitemap(&url) {
        match web::read_sitemap(fetcher, &url, max_pages).await.map_err(web_error)? {
            Probe::Sitemap(_) if title.is_some() => {
                return Err(ApiError::field(
                    "title",
                    "a sitemap's pages take their own titles; leave it out",
                ));
            }
            Probe::Sitemap(pages) => pages,
            Probe::Page => vec![url],
        }
    } else {
        vec![url]
    };
    let mut added = Vec::with_capacity(pages.len());
    for page in pages {
        let address = page.to_string();
        added.push(
            state
                .add(NewDocument {
                    workspace_id,
                    title: title.clone().unwrap_or_else(|| web::title_for_url(&address)),
                    source: address.clone(),
                    url: Some(address.clone()),
                    kind: Kind::Webpage.as_str().to_owned(),
                    // The same address twice is the same document.
                    content_hash: content_hash(address.as_bytes()),
                    content: address.into_bytes(),
                })
                .await?,
        );
    }
    Ok(added)
}

/// A page or sitemap that cannot be added: an internal address is
/// `url_not_allowed`, a sitemap address serving something unreadable 415, the
/// rest (unreachable, 404, a damaged sitemap) a mistake in `url`.
fn web_error(err: WebError) -> ApiError {
    match err {
        WebError::Fetch(FetchError::NotAllowed { .. }) => ApiError::new(Code::UrlNotAllowed, err.to_string()),
        WebError::Unsupported(_) => ApiError::new(Code::UnsupportedFileType, err.to_string()),
        other => ApiError::field("url", other.to_string()),
    }
}

async fn uploaded(
    state: &AppState,
    workspace_id: i64,
    mut multipart: Multipart,
) -> Result<Vec<AddedDocument>, ApiError> {
    let max = usize::try_from(state.config.ingest.max_file_mb).unwrap_or(1024) * 1024 * 1024;
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let name = name.rsplit(['/', '\\']).next().unwrap_or_default().trim().to_owned();
        if name.chars().count() > 255 || name.chars().any(char::is_control) {
            return Err(ApiError::field(
                "file",
                "file names must be at most 255 characters, without control characters",
            ));
        }
        let Some(kind) = Kind::from_file_name(&name) else {
            return Err(ApiError::new(
                Code::UnsupportedFileType,
                format!("{name:?} is not a supported file type; send .txt, .md, .html, .pdf or .docx files."),
            ));
        };
        let bytes = field.bytes().await.map_err(multipart_error)?;
        if bytes.len() > max {
            return Err(ApiError::new(
                Code::PayloadTooLarge,
                format!("{name:?} is larger than ingest.max_file_mb."),
            ));
        }
        files.push((name, kind, bytes));
    }
    if files.is_empty() {
        return Err(ApiError::field("file", "send at least one file in a field named `file`"));
    }
    // Everything is checked before anything is stored.
    let mut added = Vec::with_capacity(files.len());
    for (name, kind, bytes) in files {
        let title = crate::rag::extract::title_from_file_name(&name);
        added.push(
            state
                .add(NewDocument {
                    workspace_id,
                    title,
                    source: name,
                    url: None,
                    kind: kind.as_str().to_owned(),
                    content_hash: content_hash(&bytes),
                    content: bytes.to_vec(),
                })
                .await?,
        );
    }
    Ok(added)
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(Code::PayloadTooLarge, "The upload is larger than ingest.max_file_mb.")
    } else {
        ApiError::new(Code::BadRequest, "The multipart body could not be read.")
    }
}

/// The workspace's documents with their processing status.
#[utoipa::path(get, path = "/workspaces/{id}/documents", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = [Document]), (status = 404, body = ErrorBody)))]
async fn list_documents(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(workspace_id): Path<i64>,
) -> Result<Json<Vec<Document>>, ApiError> {
    state.member_workspace(&user, workspace_id).await?;
    Ok(Json(state.store.list_documents(user.id, workspace_id).await?))
}

/// One document.
#[utoipa::path(get, path = "/workspaces/{id}/documents/{document_id}", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path), ("document_id" = i64, Path)),
    responses((status = 200, body = Document), (status = 404, body = ErrorBody)))]
async fn get_document(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((workspace_id, id)): Path<(i64, i64)>,
) -> Result<Json<Document>, ApiError> {
    Ok(Json(state.visible_document(&user, workspace_id, id).await?))
}

/// Changes a document's title or URL.
#[utoipa::path(put, path = "/workspaces/{id}/documents/{document_id}", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path), ("document_id" = i64, Path)), request_body = DocumentUpdate,
    responses((status = 200, body = Document), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_document(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((workspace_id, id)): Path<(i64, i64)>,
    Json(body): Json<DocumentUpdate>,
) -> Result<Json<Document>, ApiError> {
    let current = state.visible_document(&user, workspace_id, id).await?;
    let title = match &body.title {
        Some(title) => valid_title(title)?,
        None => current.title.clone(),
    };
    let url = match body.url {
        Some(Some(url)) => Some(valid_url(&url)?),
        Some(None) => None,
        None => current.url.clone(),
    };
    state.store.update_document(workspace_id, id, &title, url.as_deref(), now_ms()).await?;
    if title != current.title {
        state.knowledge.title_changed(id).await.map_err(ApiError::internal)?;
    }
    state.sync_index().await;
    Ok(Json(state.visible_document(&user, workspace_id, id).await?))
}

/// Deletes a document; its passages leave search results at once.
#[utoipa::path(delete, path = "/workspaces/{id}/documents/{document_id}", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path), ("document_id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
async fn delete_document(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((workspace_id, id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state.visible_document(&user, workspace_id, id).await?;
    state.store.delete_document(workspace_id, id, now_ms()).await?;
    // Search already skips chunks the database no longer has; this also drops
    // them from this node's index right away.
    state.sync_index().await;
    Ok(StatusCode::NO_CONTENT)
}

/// The workspace's passages that best match `query`, best first.
#[utoipa::path(post, path = "/workspaces/{id}/search", tag = "workspaces", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SearchRequest,
    responses((status = 200, body = SearchResults), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(workspace_id): Path<i64>,
    Json(body): Json<SearchRequest>,
) -> Result<Json<SearchResults>, ApiError> {
    state.member_workspace(&user, workspace_id).await?;
    let query = body.query.trim();
    match query.chars().count() {
        0 => return Err(ApiError::field("query", "must not be empty")),
        n if n > 1000 => return Err(ApiError::field("query", "must be at most 1,000 characters")),
        _ => {}
    }
    let limit = body.limit.unwrap_or(5);
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 50"));
    }
    let mode = match body.mode.as_deref() {
        None => SearchMode::Hybrid,
        Some(mode) => {
            mode.parse().map_err(|()| ApiError::field("mode", "must be hybrid, keyword or dense"))?
        }
    };
    let found = state.knowledge.find(workspace_id, query, limit, mode).await.map_err(ApiError::internal)?;
    let answerability = chat::judge(&found);
    let results = found
        .passages
        .into_iter()
        .map(|p| SearchResult {
            url: p.citation_url(),
            document_id: p.hit.document_id,
            title: p.hit.title,
            source: p.hit.source,
            chunk_id: p.hit.chunk_id,
            heading_path: p.hit.heading_path,
            text: p.hit.text,
            score: p.score,
            similarity: p.similarity,
        })
        .collect();
    Ok(Json(SearchResults { results, answerability }))
}
