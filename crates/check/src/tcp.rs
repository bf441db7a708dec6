//! TCP_CHECK: the server is up when its port answers a SYN with a SYN-ACK within
//! `connect_timeout`: half-open from a raw socket ([`HalfOpen`]) when the daemon
//! has one, else by a connect that is then reset (see [`net::probe_tcp`]).

use crate::half_open::HalfOpen;
use crate::{net, BoxFuture, Check, Outcome, Target};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::time::timeout;

/// TCP_CHECK (no options of its own).
#[derive(Debug, Default)]
pub struct TcpCheck {
    /// The configuration's half-open prober; `None`: connect(2) for every check.
    pub half_open: Option<Arc<HalfOpen>>,
    /// Probes sent, which picks each one's source port.
    round: AtomicUsize,
    /// The words of an up, made once (a checker probes one address).
    up_detail: OnceLock<(SocketAddr, String)>,
}

impl TcpCheck {
    /// A TCP_CHECK probing half-open with `half_open` (`None`: connect).
    pub fn new(half_open: Option<Arc<HalfOpen>>) -> TcpCheck {
        TcpCheck {
            half_open,
            ..Default::default()
        }
    }

    async fn probe(&self, t: &Target) -> Result<String, String> {
        if let Some(h) = &self.half_open {
            // Bounded by connect_timeout itself.
            let round = self.round.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = h.probe(t, t.addr, round).await {
                return r
                    .map(|()| {
                        match self
                            .up_detail
                            .get_or_init(|| (t.addr, format!("SYN-ACK from {}", t.addr)))
                        {
                            (a, d) if *a == t.addr => d.clone(),
                            _ => format!("SYN-ACK from {}", t.addr),
                        }
                    })
                    .map_err(|e| format!("SYN to {}: {e}", t.addr));
            }
        }
        match timeout(t.connect_timeout, net::probe_tcp(t, t.addr)).await {
            Ok(Ok(())) => Ok(format!("connected to {}", t.addr)),
            Ok(Err(e)) => Err(format!("connect to {}: {e}", t.addr)),
            Err(_) => Err(format!("connect to {}: timed out", t.addr)),
        }
    }
}

impl Check for TcpCheck {
    fn kind(&self) -> &'static str {
        "TCP_CHECK"
    }

    fn run<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let start = Instant::now();
            Outcome::from_result(self.probe(t).await, start)
        })
    }

    fn ends_by_itself(&self) -> bool {
        true
    }
}
