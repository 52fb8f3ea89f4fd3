//! What every handler shares, cheap to clone.

use std::sync::Arc;

use utoipa::openapi::OpenApi;

use super::assets::Asset;
use crate::auth::Auth;
use crate::config::Config;
use crate::llm::LlmProvider;
use crate::metrics::Metrics;
use crate::rag::KnowledgeBase;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub auth: Auth,
    pub metrics: Arc<Metrics>,
    pub knowledge: Arc<KnowledgeBase>,
    /// The language model that writes replies; `None`: replies quote passages.
    pub llm: Option<Arc<dyn LlmProvider>>,
    /// The OpenAPI document, generated from the routes at start.
    pub openapi: Arc<OpenApi>,
    /// `/static/widget-demo.html`, with the sample bot's widget token when there is one.
    pub demo_page: Arc<Asset>,
}
