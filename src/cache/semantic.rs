//! The semantic cache's index: for each partition (a route, its scope — a gateway key,
//! or the whole gateway — and the parameters that change an answer), the embeddings of
//! the prompts whose answers the exact cache holds, each with that answer's key. A miss
//! of the exact cache is looked up here by cosine similarity; the best entry at or
//! above the threshold names the stored answer to serve. A flat index of unit vectors
//! (a dot product per entry, in its partition only): exact, and with partitions small
//! (a route's prompts under the same parameters) fast enough — 10 000 entries of 1 536
//! dimensions take about a millisecond. Bounded by entries and bytes, oldest out first;
//! an entry whose answer the exact cache has dropped is forgotten when it is found.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use super::CacheKey;

/// What a request the semantic cache missed brings to the store: its partition, its
/// prompt's unit vector, and the prompt.
#[derive(Debug, Clone)]
pub struct SemanticEntry {
    pub partition: [u8; 32],
    pub vector: Box<[f32]>,
    pub prompt: String,
}

/// One indexed prompt.
struct Item {
    partition: [u8; 32],
    key: CacheKey,
    vector: Box<[f32]>,
    /// The prompt as it was (cut), for the verifier.
    prompt: Box<str>,
}

impl Item {
    fn bytes(&self) -> usize {
        self.vector.len() * 4 + self.prompt.len() + ITEM_OVERHEAD
    }
}

/// Bytes counted per entry beside its vector and prompt (ids, bookkeeping).
const ITEM_OVERHEAD: usize = 96;

/// The longest prompt kept beside a vector, in bytes.
pub const PROMPT_KEPT: usize = 2048;

#[derive(Default)]
struct State {
    /// Entries by insertion order (the eviction order), each with a sequence number.
    order: VecDeque<(u64, Item)>,
    /// Where each partition's entries are: their sequence numbers.
    partitions: HashMap<[u8; 32], VecDeque<u64>>,
    next: u64,
    bytes: usize,
}

/// What a lookup found: the stored answer's key, its similarity, and its prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub key: CacheKey,
    pub similarity: f32,
    pub prompt: String,
}

pub struct SemanticIndex {
    max_entries: usize,
    max_bytes: usize,
    state: Mutex<State>,
}

/// `v` scaled to unit length (`None` for a zero or non-finite vector).
pub fn unit(v: &[f32]) -> Option<Box<[f32]>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

fn cut(s: &str, most: usize) -> Box<str> {
    let mut end = s.len().min(most);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].into()
}

impl SemanticIndex {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        SemanticIndex {
            max_entries: max_entries.max(1),
            max_bytes,
            state: Mutex::new(State::default()),
        }
    }

    /// The best entry of `partition` at or above `threshold` for the unit vector `v`.
    pub fn lookup(&self, partition: &[u8; 32], v: &[f32], threshold: f32) -> Option<Found> {
        let s = self.state.lock();
        let seqs = s.partitions.get(partition)?;
        let first = s.order.front()?.0;
        let mut best: Option<(f32, &Item)> = None;
        for seq in seqs {
            let Some((_, item)) = s.order.get((seq - first) as usize) else {
                continue;
            };
            if item.vector.len() != v.len() {
                continue;
            }
            let sim: f32 = item.vector.iter().zip(v).map(|(a, b)| a * b).sum();
            if sim >= threshold && best.is_none_or(|(b, _)| sim > b) {
                best = Some((sim, item));
            }
        }
        best.map(|(similarity, item)| Found {
            key: item.key,
            similarity,
            prompt: item.prompt.to_string(),
        })
    }

    /// Indexes `key`'s prompt (its unit vector) in `partition`, dropping the oldest
    /// entries past the bounds.
    pub fn insert(&self, partition: [u8; 32], key: CacheKey, vector: Box<[f32]>, prompt: &str) {
        let item = Item {
            partition,
            key,
            vector,
            prompt: cut(prompt, PROMPT_KEPT),
        };
        if item.bytes() > self.max_bytes {
            return;
        }
        let mut s = self.state.lock();
        let seq = s.next;
        s.next += 1;
        s.bytes += item.bytes();
        s.partitions.entry(partition).or_default().push_back(seq);
        s.order.push_back((seq, item));
        while s.order.len() > self.max_entries || s.bytes > self.max_bytes {
            let Some((old, item)) = s.order.pop_front() else {
                break;
            };
            s.bytes -= item.bytes();
            // The oldest entry is its partition's oldest (unless it was forgotten).
            if let Some(list) = s.partitions.get_mut(&item.partition) {
                if list.front() == Some(&old) {
                    list.pop_front();
                }
                if list.is_empty() {
                    s.partitions.remove(&item.partition);
                }
            }
        }
    }

    /// Forgets every entry naming `key` (its answer is no longer stored).
    pub fn forget(&self, key: &CacheKey) {
        let mut s = self.state.lock();
        let State {
            order, partitions, ..
        } = &mut *s;
        for (seq, item) in order.iter_mut().filter(|(_, i)| i.key == *key) {
            if let Some(list) = partitions.get_mut(&item.partition) {
                list.retain(|x| x != seq);
            }
            // The slot stays (the order's positions are its sequence numbers) but no
            // partition names it: it goes with the oldest.
        }
    }

    /// Entries and bytes held.
    pub fn size(&self) -> (usize, usize) {
        let s = self.state.lock();
        (s.order.len(), s.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[f32]) -> Box<[f32]> {
        unit(x).unwrap()
    }

    #[test]
    fn the_best_entry_above_the_threshold_in_the_same_partition_is_found() {
        let idx = SemanticIndex::new(100, 1 << 20);
        let (p, q) = ([1; 32], [2; 32]);
        idx.insert(p, CacheKey([10; 32]), v(&[1.0, 0.0, 0.0]), "a");
        idx.insert(p, CacheKey([11; 32]), v(&[0.9, 0.1, 0.0]), "b");
        idx.insert(q, CacheKey([12; 32]), v(&[1.0, 0.0, 0.0]), "c");
        let f = idx.lookup(&p, &v(&[0.95, 0.05, 0.0]), 0.9).unwrap();
        assert!(f.similarity > 0.99, "{f:?}");
        assert!(f.key == CacheKey([10; 32]) || f.key == CacheKey([11; 32]));
        assert!(idx.lookup(&p, &v(&[0.0, 1.0, 0.0]), 0.9).is_none());
        assert!(
            idx.lookup(&[3; 32], &v(&[1.0, 0.0, 0.0]), 0.5).is_none(),
            "partitions apart"
        );
        idx.forget(&CacheKey([10; 32]));
        idx.forget(&CacheKey([11; 32]));
        assert!(idx.lookup(&p, &v(&[1.0, 0.0, 0.0]), 0.5).is_none());
        assert_eq!(
            idx.lookup(&q, &v(&[1.0, 0.0, 0.0]), 0.5).unwrap().prompt,
            "c"
        );
        assert!(unit(&[0.0, 0.0]).is_none() && unit(&[f32::NAN]).is_none());
    }

    #[test]
    fn memory_stays_under_its_bound_with_100_000_entries() {
        let max_bytes = 4 << 20;
        let idx = SemanticIndex::new(50_000, max_bytes);
        for i in 0..100_000u32 {
            let x = i as f32;
            let vector: Vec<f32> = (0..64).map(|d| ((x + d as f32) * 0.37).sin()).collect();
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            idx.insert(
                [(i % 7) as u8; 32],
                CacheKey(k),
                v(&vector),
                "a prompt of some length",
            );
            if i % 10_000 == 0 {
                let (n, bytes) = idx.size();
                assert!(
                    n <= 50_000 && bytes <= max_bytes,
                    "{n} entries, {bytes} bytes"
                );
            }
        }
        let (n, bytes) = idx.size();
        assert!(bytes <= max_bytes && n > 1000, "{n} entries, {bytes} bytes");
        // The newest are kept, the oldest went.
        let last: Vec<f32> = (0..64)
            .map(|d| ((99_999.0 + d as f32) * 0.37).sin())
            .collect();
        assert!(
            idx.lookup(&[(99_999 % 7) as u8; 32], &v(&last), 0.999)
                .is_some()
        );
        let first: Vec<f32> = (0..64).map(|d| (d as f32 * 0.37).sin()).collect();
        let gone = idx.lookup(&[0; 32], &v(&first), 0.9999);
        assert!(
            gone.as_ref().is_none_or(|f| f.key != CacheKey([0; 32])),
            "{gone:?}"
        );
    }
}
