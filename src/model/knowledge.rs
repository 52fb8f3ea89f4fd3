//! A workspace's knowledge: documents, their chunks and the processing queue.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::serde_rfc3339;

/// A document as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Document {
    pub id: i64,
    pub workspace_id: i64,
    pub title: String,
    /// The file name or URL the document came from.
    pub source: String,
    /// Where a reader can see it; citations link here. `null` when unknown.
    pub url: Option<String>,
    /// `text`, `markdown`, `html`, `pdf`, `docx` or `webpage` (added by URL).
    pub kind: String,
    /// `pending`, `processing`, `ready` or `failed`.
    pub status: String,
    /// Why processing failed, for a person.
    pub error: Option<String>,
    pub chunk_count: i64,
    pub size_bytes: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// A document to add; `content` is kept so that processing survives restarts.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub workspace_id: i64,
    pub title: String,
    pub source: String,
    pub url: Option<String>,
    pub kind: String,
    pub content_hash: String,
    pub content: Vec<u8>,
}

#[derive(Debug, Clone)]
pub enum AddOutcome {
    Added(Document),
    /// The workspace already holds this exact content.
    Duplicate(Document),
}

/// A claimed processing job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub document_id: i64,
    pub attempts: i64,
}

/// What processing needs of a document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobInput {
    pub workspace_id: i64,
    pub title: String,
    pub source: String,
    pub kind: String,
    pub content: Vec<u8>,
}

/// What fetching a web page found out, stored when its job finishes.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    /// The page's address after redirects: the document's new `source`, and its
    /// `url` unless the owner changed that.
    pub url: String,
    /// The page's own title (or its address), unless the owner changed the title.
    pub title: String,
    /// The title the document was given when it was added; any other title is the owner's.
    pub placeholder_title: String,
    pub size_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct NewChunk {
    pub heading_path: String,
    pub anchor: Option<String>,
    pub text: String,
    /// Its embedding, when one was made before storing.
    pub vector: Option<Vec<f32>>,
}

/// A chunk as the search index takes it in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IndexedChunk {
    pub id: i64,
    pub workspace_id: i64,
    pub document_id: i64,
    pub title: String,
    pub heading_path: String,
    pub text: String,
}

/// A chunk as search results show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChunkHit {
    pub chunk_id: i64,
    pub document_id: i64,
    pub title: String,
    pub source: String,
    pub url: Option<String>,
    pub heading_path: String,
    pub anchor: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct IndexChange {
    pub seq: i64,
    pub workspace_id: i64,
    pub document_id: i64,
}

/// A vector as the index loads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredVector {
    pub chunk_id: i64,
    pub workspace_id: i64,
    pub document_id: i64,
    pub vector: Vec<u8>,
}

impl StoredVector {
    /// The vector's numbers; bytes of a length that is not a multiple of four are cut.
    pub fn values(&self) -> Vec<f32> {
        decode_vector(&self.vector)
    }
}

/// A vector as it is stored: its `f32` values as little-endian bytes.
pub fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The values of a stored vector; a length that is not a multiple of four is cut.
pub fn decode_vector(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = [0.25f32, -1.5, 3.0e-7, f32::MAX];
        assert_eq!(decode_vector(&encode_vector(&v)), v);
    }
}
