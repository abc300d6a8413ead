//! Graceful shutdown: SIGTERM or SIGINT cancels a token; a second signal forces the exit.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Waits for SIGTERM or SIGINT.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the operator");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A token cancelled on the first signal; a second signal exits the process at once.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("shutdown requested: no new reconciles, waiting for those in flight");
        t.cancel();
        signal().await;
        tracing::warn!("second signal: exiting without waiting");
        std::process::exit(130);
    });
    token
}

/// Waits for `work` at most `deadline` after `token` is cancelled; returns whether `work`
/// finished in time.
pub async fn drain<F: std::future::Future>(
    work: F,
    token: &CancellationToken,
    deadline: Duration,
) -> bool {
    tokio::pin!(work);
    tokio::select! {
        _ = &mut work => return true,
        () = token.cancelled() => {}
    }
    tokio::time::timeout(deadline, work).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_in_flight_work_within_the_deadline() {
        let token = CancellationToken::new();
        token.cancel();
        let done = drain(
            tokio::time::sleep(Duration::from_millis(20)),
            &token,
            Duration::from_secs(10),
        )
        .await;
        assert!(done);
    }

    #[tokio::test]
    async fn drain_gives_up_after_the_deadline() {
        let token = CancellationToken::new();
        token.cancel();
        let done = drain(
            std::future::pending::<()>(),
            &token,
            Duration::from_millis(20),
        )
        .await;
        assert!(!done);
    }
}
