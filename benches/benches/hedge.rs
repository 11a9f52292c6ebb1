//! A hedge whose first copy answers before the delay, against `tokio::time::timeout`
//! around the same body, in one run: a body that answers at once, and one that is
//! pending once first (so both register their timer), through the attribute and by
//! hand (`Hedge::call`).
//!
//! ```text
//! cargo bench -p resilience-bench --bench hedge
//! ```

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;

use resilience_bench::batch;
use resilience_bench::cases::{BenchError, Out, Role, case};
use resilience_bench::suite;
use resilience_runtime::hedge::Hedge;

const DELAY: Duration = Duration::from_secs(1);

static HEDGE: LazyLock<Hedge> = LazyLock::new(|| {
    Hedge::builder("bench-hedge-by-hand")
        .delay(DELAY)
        .build()
        .expect("valid settings")
});

/// Pending on its first poll (waking itself at once), ready on the second.
struct PendingOnce(bool, u64);

impl Future for PendingOnce {
    type Output = Out;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        if self.0 {
            Poll::Ready(Ok(black_box(self.1)))
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

async fn ready(i: u64) -> Out {
    Ok(black_box(i))
}

async fn tokio_ready(i: u64) -> Out {
    tokio::time::timeout(DELAY, ready(i))
        .await
        .unwrap_or(Err(BenchError::Anchor))
}

async fn tokio_pending_once(i: u64) -> Out {
    tokio::time::timeout(DELAY, PendingOnce(false, i))
        .await
        .unwrap_or(Err(BenchError::Anchor))
}

#[resilience_runtime::hedge(delay = "1s")]
async fn attr_ready(i: u64) -> Out {
    Ok(black_box(i))
}

#[resilience_runtime::hedge(delay = "1s")]
async fn attr_pending_once(i: u64) -> Out {
    PendingOnce(false, i).await
}

async fn hand_pending_once(i: u64) -> Out {
    HEDGE.call(|| PendingOnce(false, i)).await
}

async fn bare_pending_once(i: u64) -> Out {
    PendingOnce(false, i).await
}

fn main() {
    use Role::{Anchor, Floor, Ours};
    let cases = [
        case(
            "hedge",
            "hedge_bare_ready",
            "bare body, ready at once",
            Floor,
            batch!(|i| ready(i)),
        ),
        case(
            "hedge",
            "hedge_tokio_timeout_ready",
            "tokio::time::timeout, ready at once",
            Anchor,
            batch!(|i| tokio_ready(i)),
        ),
        case(
            "hedge",
            "hedge_attr_ready",
            "#[hedge(delay = \"1s\")], ready at once",
            Ours,
            batch!(|i| attr_ready(i)),
        ),
        case(
            "hedge",
            "hedge_bare_pending_once",
            "bare body, pending once",
            Floor,
            batch!(|i| bare_pending_once(i)),
        ),
        case(
            "hedge",
            "hedge_tokio_timeout_pending_once",
            "tokio::time::timeout, pending once",
            Anchor,
            batch!(|i| tokio_pending_once(i)),
        ),
        case(
            "hedge",
            "hedge_attr_pending_once",
            "#[hedge(delay = \"1s\")], pending once",
            Ours,
            batch!(|i| attr_pending_once(i)),
        ),
        case(
            "hedge",
            "hedge_hand_pending_once",
            "Hedge::call, pending once",
            Ours,
            batch!(|i| hand_pending_once(i)),
        ),
    ];
    suite::run(&cases);
}
