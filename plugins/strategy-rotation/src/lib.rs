//! How `builtin:least-connections` and `builtin:usage-aware` order a route's targets:
//! by a key of their own, ties broken by a rotation on the route's sequence number so
//! that equal targets share the load. Plain numbers in and out: both are contract
//! 0.1.0 components, with bindings of their own (the SDK speaks 0.2.0).

/// The target indexes `0..n`, sorted (stably) by `key(i, rotation)`, where `rotation`
/// is target `i`'s place in the round that starts at target `sequence % n`; an error
/// when there is no target.
pub fn rotating_order<K: Ord>(
    n: usize,
    sequence: u64,
    mut key: impl FnMut(usize, u64) -> K,
) -> Result<Vec<u32>, String> {
    let len = n as u64;
    if len == 0 {
        return Err("no targets".into());
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| key(i as usize, (i as u64 + len - sequence % len) % len));
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::rotating_order;

    #[test]
    fn ties_rotate_with_the_sequence() {
        assert_eq!(rotating_order(3, 1, |_, r| r), Ok(vec![1, 2, 0]));
        assert_eq!(rotating_order(3, 5, |i, r| (i == 0, r)), Ok(vec![2, 1, 0]));
        assert_eq!(rotating_order(0, 0, |_, r| r), Err("no targets".into()));
    }
}
