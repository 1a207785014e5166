//! Pauses between attempts of writers that met each other.

use std::time::Duration;

/// Sleeps a random 1 ms to `2^(attempt + 1)` ms (at most 128 ms), so writers that collided
/// spread out instead of colliding again.
pub(crate) async fn jittered_pause(attempt: u32) {
    let pause = 1 + rand::random::<u64>() % (2u64 << attempt.min(6));
    tokio::time::sleep(Duration::from_millis(pause)).await;
}
