//! Tests of the instance pool: wall-clock bounds of calls and quarantine trials.

use super::Undecided;
use crate::plugins::FailureKind;
use crate::plugins::quarantine::Quarantine;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn a_call_is_bounded_in_wall_time_once_it_waits() {
    use super::bounded;
    let limit = Duration::from_millis(100);
    assert_eq!(bounded(limit, async { 7 }).await, Some(7));
    // Waits within the limit: the answer comes.
    let slow = async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        8
    };
    assert_eq!(bounded(limit, slow).await, Some(8));
    // Never answers (a guest stuck in a host call): cut off at the limit.
    let started = tokio::time::Instant::now();
    assert_eq!(bounded(limit, std::future::pending::<u8>()).await, None);
    assert_eq!(started.elapsed(), limit);
}

#[tokio::test(start_paused = true)]
async fn a_trial_that_never_became_a_lease_lets_the_next_request_try() {
    let q = Quarantine::new(1, Duration::from_secs(10), Duration::from_secs(5));
    assert!(q.failed("r", FailureKind::Trap).is_some());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(q.admit("r"), Ok(true));
    // The lease was cancelled while its instance was being made.
    drop(Undecided(&q, "r", true));
    assert_eq!(q.admit("r"), Ok(true), "the trial slot was freed");
    // A disarmed guard (the lease took over) leaves the trial out.
    drop(Undecided(&q, "r", false));
    assert!(q.admit("r").is_err());
}
