//! This node's vector index: every chunk's embedding, in memory, by workspace.
//!
//! Derived from the database like the keyword index, and rebuilt from it at each
//! start. Vectors are kept as 8-bit integers with one scale per vector (a
//! quarter of the memory of `f32`, and a scan reads a quarter of the bytes);
//! search is an exact scan of the workspace's vectors, whose integer dot
//! products the compiler vectorises. Ranking by these scores matches ranking by
//! the `f32` cosine closely (the test below and `bench/` measure it).

use std::collections::HashMap;
use std::sync::RwLock;

use crate::store::StoredVector;

/// One workspace's vectors, as parallel columns.
#[derive(Default)]
struct Shard {
    dims: usize,
    chunk_ids: Vec<i64>,
    document_ids: Vec<i64>,
    scales: Vec<f32>,
    codes: Vec<i8>,
}

impl Shard {
    fn push(&mut self, chunk_id: i64, document_id: i64, vector: &[f32]) {
        if self.chunk_ids.is_empty() {
            self.dims = vector.len();
        }
        if vector.len() != self.dims || vector.is_empty() {
            return; // another model's vector; never mixed in
        }
        let (scale, codes) = quantize(vector);
        self.chunk_ids.push(chunk_id);
        self.document_ids.push(document_id);
        self.scales.push(scale);
        self.codes.extend_from_slice(&codes);
    }

    fn remove_document(&mut self, document_id: i64) {
        let dims = self.dims;
        let mut kept = 0;
        for i in 0..self.chunk_ids.len() {
            if self.document_ids[i] == document_id {
                continue;
            }
            if kept != i {
                self.chunk_ids[kept] = self.chunk_ids[i];
                self.document_ids[kept] = self.document_ids[i];
                self.scales[kept] = self.scales[i];
                self.codes.copy_within(i * dims..(i + 1) * dims, kept * dims);
            }
            kept += 1;
        }
        self.chunk_ids.truncate(kept);
        self.document_ids.truncate(kept);
        self.scales.truncate(kept);
        self.codes.truncate(kept * dims);
    }

    fn len(&self) -> usize {
        self.chunk_ids.len()
    }
}

/// `v` as `scale * codes`, codes in -127..=127.
fn quantize(v: &[f32]) -> (f32, Vec<i8>) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return (0.0, vec![0; v.len()]);
    }
    let scale = max / 127.0;
    #[allow(clippy::cast_possible_truncation)] // rounded values within -127..=127
    let codes = v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect();
    (scale, codes)
}

fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
}

#[derive(Default)]
pub struct VectorIndex {
    shards: RwLock<HashMap<i64, Shard>>,
}

impl VectorIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds vectors without removing anything first (a rebuild).
    pub fn add(&self, vectors: &[StoredVector]) {
        let mut shards = self.shards.write().unwrap_or_else(|p| p.into_inner());
        for v in vectors {
            shards.entry(v.workspace_id).or_default().push(v.chunk_id, v.document_id, &v.values());
        }
    }

    /// Replaces what is held for a document with `vectors` (none: removes it).
    pub fn replace_document(&self, workspace_id: i64, document_id: i64, vectors: &[StoredVector]) {
        let mut shards = self.shards.write().unwrap_or_else(|p| p.into_inner());
        if let Some(shard) = shards.get_mut(&workspace_id) {
            shard.remove_document(document_id);
            if shard.len() == 0 {
                shards.remove(&workspace_id); // and its memory with it
            }
        }
        for v in vectors {
            shards.entry(v.workspace_id).or_default().push(v.chunk_id, v.document_id, &v.values());
        }
    }

    pub fn remove_workspace(&self, workspace_id: i64) {
        self.shards.write().unwrap_or_else(|p| p.into_inner()).remove(&workspace_id);
    }

    pub fn clear(&self) {
        self.shards.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// How many vectors a workspace has here.
    pub fn count(&self, workspace_id: i64) -> usize {
        self.shards.read().unwrap_or_else(|p| p.into_inner()).get(&workspace_id).map_or(0, Shard::len)
    }

    /// All vectors held, and the bytes they take.
    pub fn size(&self) -> (usize, usize) {
        let shards = self.shards.read().unwrap_or_else(|p| p.into_inner());
        let count = shards.values().map(Shard::len).sum();
        let bytes = shards.values().map(|s| s.codes.len() + s.len() * (8 + 8 + 4)).sum();
        (count, bytes)
    }

    /// The `limit` chunks of a workspace nearest to `query` (normalised), as
    /// (chunk id, cosine similarity), best first.
    pub fn search(&self, workspace_id: i64, query: &[f32], limit: usize) -> Vec<(i64, f32)> {
        let shards = self.shards.read().unwrap_or_else(|p| p.into_inner());
        let Some(shard) = shards.get(&workspace_id) else { return Vec::new() };
        if shard.dims != query.len() || shard.len() == 0 || limit == 0 {
            return Vec::new();
        }
        let (q_scale, q_codes) = quantize(query);
        let mut scored: Vec<(f32, usize)> = shard
            .codes
            .chunks_exact(shard.dims)
            .zip(&shard.scales)
            .enumerate()
            .map(|(i, (codes, scale))| (dot(codes, &q_codes) as f32 * scale * q_scale, i))
            .collect();
        let keep = limit.min(scored.len());
        if keep < scored.len() {
            scored.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(keep);
        }
        scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().map(|(score, i)| (shard.chunk_ids[i], score)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::vectors::encode;

    fn stored(chunk_id: i64, workspace_id: i64, document_id: i64, v: &[f32]) -> StoredVector {
        let mut v = v.to_vec();
        crate::rag::embed::normalize(&mut v);
        StoredVector { chunk_id, workspace_id, document_id, vector: encode(&v) }
    }

    /// A deterministic pseudo-random unit vector.
    fn unit(seed: u64, dims: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut v: Vec<f32> = (0..dims)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        crate::rag::embed::normalize(&mut v);
        v
    }

    #[test]
    fn nearest_first_within_one_workspace_and_replaced_documents_leave() {
        let index = VectorIndex::new();
        index.add(&[
            stored(1, 1, 10, &[1.0, 0.0, 0.0]),
            stored(2, 1, 10, &[0.7, 0.7, 0.0]),
            stored(3, 1, 11, &[0.0, 0.0, 1.0]),
            stored(4, 2, 20, &[1.0, 0.0, 0.0]),
        ]);
        let hits = index.search(1, &[1.0, 0.0, 0.0], 10);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert!((hits[0].1 - 1.0).abs() < 0.02, "cosine of a vector with itself: {}", hits[0].1);
        assert!((hits[1].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.02);
        assert_eq!(index.search(1, &[1.0, 0.0, 0.0], 1).len(), 1);
        assert!(index.search(1, &[1.0, 0.0], 5).is_empty(), "another model's size is never compared");

        index.replace_document(1, 10, &[stored(5, 1, 10, &[0.0, 1.0, 0.0])]);
        let ids: Vec<i64> = index.search(1, &[1.0, 0.0, 0.0], 10).iter().map(|h| h.0).collect();
        assert!(!ids.contains(&1) && !ids.contains(&2) && ids.contains(&5), "{ids:?}");
        index.replace_document(1, 11, &[]);
        assert_eq!(index.count(1), 1);
        assert_eq!(index.count(2), 1);
    }

    #[test]
    fn eight_bit_scores_rank_like_exact_cosines() {
        let dims = 384;
        let vectors: Vec<Vec<f32>> = (0..2000).map(|i| unit(i, dims)).collect();
        let index = VectorIndex::new();
        let batch: Vec<StoredVector> =
            vectors.iter().enumerate().map(|(i, v)| stored(i as i64 + 1, 1, 1, v)).collect();
        index.add(&batch);
        let mut agree = 0;
        for q in 0..50 {
            let query = unit(10_000 + q, dims);
            let exact = vectors
                .iter()
                .enumerate()
                .map(|(i, v)| (i as i64 + 1, v.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>()))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            let found = index.search(1, &query, 3);
            assert!((found[0].1 - exact.1).abs() < 0.02, "{} vs {}", found[0].1, exact.1);
            if found.iter().any(|h| h.0 == exact.0) {
                agree += 1;
            }
        }
        assert!(agree >= 48, "the exact nearest was in the top 3 for {agree} of 50 queries");
    }
}
