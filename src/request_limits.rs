//! What one model request may make the gateway hold. Its body is bounded by
//! `server.max_body_bytes`; its shape by `server.max_items` — the array elements
//! (messages, content blocks, parts, input items) at any depth, counted by a scan
//! that allocates nothing, since a few megabytes of tiny items become gigabytes once
//! parsed into values; and the translations into the chat form running at once by
//! `server.translation_memory_mib` — each holds an estimate of what its parse and
//! translation take, and one that does not fit now is answered 503 `overloaded` with
//! `retry-after`, never queued (a queue would hold the bodies it waits with).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::reply::ApiError;

/// Array elements in the JSON text `body`, at any depth (strings skipped). Text
/// that is not JSON counts what it can; the parser refuses it later.
pub fn items(body: &[u8]) -> usize {
    let mut count = 0;
    // Per open bracket: whether it is an array and whether it has an element yet.
    let mut open: Vec<(bool, bool)> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            b']' | b'}' => {
                open.pop();
                continue;
            }
            b',' => {
                if let Some((true, _)) = open.last() {
                    count += 1;
                }
                continue;
            }
            _ => {}
        }
        // The start of a value (or a key): the first element of an empty array counts.
        if let Some((true, seen)) = open.last_mut()
            && !*seen
        {
            *seen = true;
            count += 1;
        }
        match b {
            b'"' => in_string = true,
            b'[' => open.push((true, false)),
            b'{' => open.push((false, false)),
            _ => {}
        }
    }
    count
}

/// Bytes a translation of a body of `len` bytes with `items` elements is held to
/// take at most: the parsed values (about eight times the text, and a value's
/// overhead per element) and the translated text.
fn estimate(len: usize, items: usize) -> usize {
    len.saturating_mul(8)
        .saturating_add(items.saturating_mul(160))
}

/// The memory all translations in flight may hold, in KiB permits.
pub struct TranslationBudget {
    permits: Arc<Semaphore>,
    kib: usize,
}

/// A translation's share of the budget, given back when dropped.
pub type Held = OwnedSemaphorePermit;

/// The default budget (`translation_memory_mib = 1024`); a gateway whose config says
/// otherwise makes its own at its first translation.
impl Default for TranslationBudget {
    fn default() -> Self {
        TranslationBudget::new(1 << 30)
    }
}

impl TranslationBudget {
    pub fn new(bytes: usize) -> Self {
        let kib = (bytes >> 10).clamp(1, Semaphore::MAX_PERMITS);
        TranslationBudget {
            permits: Arc::new(Semaphore::new(kib)),
            kib,
        }
    }

    /// The budget's size in bytes (a reload that changes it makes a new one).
    pub fn bytes(&self) -> usize {
        self.kib << 10
    }

    /// Holds room for translating `body`, or the 503 saying there is none now.
    pub fn hold(&self, body: &[u8], items: usize) -> Result<Held, Box<ApiError>> {
        let want = (estimate(body.len(), items) >> 10).clamp(1, self.kib);
        self.permits
            .clone()
            .try_acquire_many_owned(want as u32)
            .map_err(|_| {
                Box::new(
                    ApiError::new(
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        "server_error",
                        "the gateway is translating as many large requests as its memory allows (server.translation_memory_mib); retry shortly",
                    )
                    .with_code("overloaded")
                    .with_retry_after(1),
                )
            })
    }
}

/// `body`'s elements, or the 400 naming the cap it passes.
pub fn check_items(body: &[u8], max: usize) -> Result<usize, Box<ApiError>> {
    let n = items(body);
    if n > max {
        return Err(Box::new(ApiError::invalid(
            format!(
                "the request holds {n} items (messages, content blocks, parts and other array elements), more than the {max} this gateway takes (server.max_items)"
            ),
            None,
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_elements_are_counted_at_any_depth_and_strings_are_skipped() {
        assert_eq!(items(br#"{"a":[]}"#), 0);
        assert_eq!(items(br#"{"a":[1, 2 ,3]}"#), 3);
        assert_eq!(items(br#"[{"b":[[1],[2,3]]}, "x,[y]", "q\"],["]"#), 8);
        assert_eq!(
            items(br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a,b"}]}]}"#),
            2
        );
        let many = format!("{{\"input\":[{}]}}", vec!["{}"; 1000].join(","));
        assert_eq!(items(many.as_bytes()), 1000);
    }

    #[test]
    fn a_budget_refuses_what_does_not_fit_and_frees_it_when_dropped() {
        let b = TranslationBudget::new(10 << 20);
        let one = b.hold(&vec![b' '; 1 << 20], 0).unwrap();
        assert!(b.hold(&vec![b' '; 1 << 20], 0).is_err(), "8 MiB held of 10");
        drop(one);
        assert!(b.hold(&vec![b' '; 1 << 20], 0).is_ok());
        assert!(check_items(b"[1,2,3]", 2).is_err());
    }
}
