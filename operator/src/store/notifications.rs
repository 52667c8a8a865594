//! Postgres notifications (`LISTEN`): how the controller and the alert sender hear of work
//! without waiting for their poll.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Forwards the payloads of `NOTIFY {channel}` until shutdown (or until `payloads` is
/// closed), reconnecting after `retry` when the connection drops. The listener's poll covers
/// what is missed meanwhile.
pub(crate) async fn listen(
    pool: PgPool,
    channel: &'static str,
    payloads: mpsc::Sender<String>,
    shutdown: CancellationToken,
    retry: Duration,
) {
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = shutdown.cancelled() => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(channel, error = %e, "cannot listen for notifications; polling");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(retry) => continue,
                    }
                }
            },
        };
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                received = listener.recv() => received,
            };
            match received {
                Ok(notification) => {
                    if payloads
                        .send(notification.payload().to_owned())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(channel, error = %e, "notifications interrupted; reconnecting");
                    break;
                }
            }
        }
    }
}
