//! TCP_CHECK: the server is up when a TCP connection opens within `connect_timeout`
//! (then it is reset: see [`net::probe_tcp`]).

use crate::{net, BoxFuture, Check, Outcome, Target};
use std::time::Instant;
use tokio::time::timeout;

/// TCP_CHECK (no options of its own).
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpCheck;

impl Check for TcpCheck {
    fn kind(&self) -> &'static str {
        "TCP_CHECK"
    }

    fn run<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let start = Instant::now();
            let r = match timeout(t.connect_timeout, net::probe_tcp(t, t.addr)).await {
                Ok(Ok(_)) => Ok(format!("connected to {}", t.addr)),
                Ok(Err(e)) => Err(format!("connect to {}: {e}", t.addr)),
                Err(_) => Err(format!("connect to {}: timed out", t.addr)),
            };
            Outcome::from_result(r, start)
        })
    }
}
