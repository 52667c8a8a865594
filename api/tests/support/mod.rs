//! Helpers shared by the API tests.

use std::net::SocketAddr;

use plumb_api::{AppState, Application};
use tokio_util::sync::{CancellationToken, DropGuard};

/// The application serving on a free loopback port, stopped when dropped.
pub struct Served {
    pub addr: SocketAddr,
    _shutdown: DropGuard,
}

pub async fn serve(state: AppState) -> Served {
    let app = Application::build("127.0.0.1:0".parse().unwrap(), state)
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    Served {
        addr,
        _shutdown: shutdown.drop_guard(),
    }
}
