//! This node's vector index: every chunk's embedding, in memory, by workspace.
//!
//! Derived from the database like the keyword index, and rebuilt from it at each
//! start. Vectors are kept as 8-bit integers with one scale per vector (a
//! quarter of the memory of `f32`, and a scan reads a quarter of the bytes);
//! search is an exact scan of the workspace's vectors, whose integer dot
//! products the compiler vectorises, keeping the best few in a small heap; a
//! large workspace is scanned in parts on several threads. Ranking by these
//! scores matches ranking by the `f32` cosine closely (the test below measures
//! it; `benches/search.rs` times the scan).

use std::collections::{BinaryHeap, HashMap};
use std::ops::Range;
use std::sync::RwLock;

use crate::model::StoredVector;

/// Rows a scan thread gets at least: 20,000 rows take ~0.7 ms to scan, a thread
/// some 0.05 ms to start and join.
const ROWS_PER_THREAD: usize = 20_000;
/// Threads one scan uses at most.
const MAX_SCAN_THREADS: usize = 4;

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

    /// The `limit` rows with the highest dot product with `query`, best first,
    /// scanned in `parts` parts on as many threads (this one included).
    fn nearest(&self, query: &[i8], limit: usize, parts: usize) -> Vec<Scored> {
        let rows = self.len();
        let per_part = rows.div_ceil(parts.max(1)).max(1);
        let mut best = std::thread::scope(|scope| {
            let others: Vec<_> = (per_part..rows)
                .step_by(per_part)
                .map(|start| {
                    let range = start..(start + per_part).min(rows);
                    std::thread::Builder::new()
                        .name("docent-vectors".into())
                        .spawn_scoped(scope, {
                            let range = range.clone();
                            move || self.scan(query, range, limit)
                        })
                        .map_err(|_| range) // no thread: scanned here instead
                })
                .collect();
            let mut best = self.scan(query, 0..per_part.min(rows), limit);
            for other in others {
                best.extend(match other {
                    Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    Err(range) => self.scan(query, range, limit),
                });
            }
            best
        });
        best.sort_unstable();
        best.truncate(limit);
        best
    }

    /// The `limit` best of `rows`, in no order.
    fn scan(&self, query: &[i8], rows: Range<usize>, limit: usize) -> Vec<Scored> {
        let mut best = BinaryHeap::with_capacity(limit + 1);
        let codes = self.codes[rows.start * self.dims..rows.end * self.dims].chunks_exact(self.dims);
        for ((row, codes), &scale) in rows.clone().zip(codes).zip(&self.scales[rows]) {
            let score = dot(codes, query) as f32 * scale;
            if best.len() < limit {
                best.push(Scored { score, row });
            } else if let Some(mut worst) = best.peek_mut()
                && score > worst.score
            {
                *worst = Scored { score, row };
            }
        }
        best.into_vec()
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

/// Lanes of the dot product: 32 independent sums, which the compiler keeps in
/// vector registers. A plain `zip().map().sum()` vectorises poorly for the
/// x86-64 baseline (SSE2): over 100,000 vectors of 384 it took 7.4 ms, this 2.8 ms.
const LANES: usize = 32;

fn dot(a: &[i8], b: &[i8]) -> i32 {
    let (a_blocks, b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: i32 = a_blocks
        .remainder()
        .iter()
        .zip(b_blocks.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    let mut sums = [0i32; LANES];
    for (x, y) in a_blocks.zip(b_blocks) {
        for ((sum, &x), &y) in sums.iter_mut().zip(x).zip(y) {
            *sum += i32::from(x) * i32::from(y);
        }
    }
    sums.iter().sum::<i32>() + tail
}

/// A row and its score (before the query's scale). Ordered best first (a higher
/// score is "less"), so sorting puts the best first and a `BinaryHeap` keeps the
/// worst of its rows on top.
#[derive(Clone, Copy)]
struct Scored {
    score: f32,
    row: usize,
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.score.total_cmp(&self.score).then(self.row.cmp(&other.row))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Scored {}

pub struct VectorIndex {
    shards: RwLock<HashMap<i64, Shard>>,
    /// Threads a large scan may use: the cores, up to [`MAX_SCAN_THREADS`].
    scan_threads: usize,
}

impl Default for VectorIndex {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { shards: RwLock::default(), scan_threads: cores.min(MAX_SCAN_THREADS) }
    }
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
        let parts = (shard.len() / ROWS_PER_THREAD).clamp(1, self.scan_threads);
        shard
            .nearest(&q_codes, limit, parts)
            .into_iter()
            .map(|s| (shard.chunk_ids[s.row], s.score * q_scale))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::encode_vector as encode;

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
    fn the_dot_product_of_any_length_is_exact() {
        let a: Vec<i8> = (0..100).map(|i| (i * 37 % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..100).map(|i| (i * 91 % 255 - 127) as i8).collect();
        for len in [0, 1, 31, 32, 33, 64, 100] {
            let exact: i32 = a[..len].iter().zip(&b[..len]).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
            assert_eq!(dot(&a[..len], &b[..len]), exact, "length {len}");
        }
    }

    #[test]
    fn a_scan_in_parts_finds_what_one_scan_finds() {
        let index = VectorIndex::new();
        let batch: Vec<StoredVector> =
            (0..1000).map(|i| stored(i + 1, 1, i / 20, &unit(i as u64, 64))).collect();
        index.add(&batch);
        let shards = index.shards.read().unwrap();
        let shard = &shards[&1];
        let (_, query) = quantize(&unit(5000, 64));
        let whole: Vec<usize> = shard.nearest(&query, 10, 1).iter().map(|s| s.row).collect();
        for parts in [2, 3, 7, 999, 1000, 5000] {
            let split: Vec<usize> = shard.nearest(&query, 10, parts).iter().map(|s| s.row).collect();
            assert_eq!(split, whole, "{parts} parts");
        }
        assert_eq!(shard.nearest(&query, 2000, 3).len(), 1000, "a limit beyond the rows");
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
