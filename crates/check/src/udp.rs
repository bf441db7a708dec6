//! UDP_CHECK (keepalived.conf(5)): sends `payload` (random bytes when unset) on a connected
//! UDP socket. With `require_reply`, a reply must arrive within `connect_timeout`, its length
//! within `min_reply_length` (default 0) ..= `max_reply_length` (default 255), and, when a
//! hex pattern is given, match it over the shorter of the two (X digits match anything).
//! Without `require_reply`, the check fails only on an ICMP error (e.g. port unreachable,
//! seen as ECONNREFUSED) before the timeout.

use crate::{net, BoxFuture, Check, Outcome, Target};
use keepalived_config::model::Checker;
use std::time::Instant;

/// UDP_CHECK.
#[derive(Debug, Clone)]
pub struct UdpCheck {
    /// Bytes to send (None: 16 random bytes each run).
    pub payload: Option<Vec<u8>>,
    /// `require_reply`: (bytes, nibble masks); empty for "any reply".
    pub require_reply: Option<(Vec<u8>, Vec<u8>)>,
    /// Shortest accepted reply.
    pub min_reply_length: usize,
    /// Longest accepted reply.
    pub max_reply_length: usize,
}

impl UdpCheck {
    /// From a UDP_CHECK block.
    pub fn from_model(c: &Checker) -> Result<UdpCheck, String> {
        let payload = match &c.payload {
            Some(p) => Some(
                net::parse_hex(p, false)
                    .map_err(|e| format!("payload: {e}"))?
                    .0,
            ),
            None => None,
        };
        let require_reply = match &c.require_reply {
            Some(r) => Some(net::parse_hex(r, true).map_err(|e| format!("require_reply: {e}"))?),
            None => None,
        };
        Ok(UdpCheck {
            payload,
            require_reply,
            min_reply_length: c.min_reply_length.unwrap_or(0) as usize,
            max_reply_length: c.max_reply_length.unwrap_or(255) as usize,
        })
    }

    /// Whether `reply` is acceptable.
    pub fn judge_reply(&self, reply: &[u8]) -> Result<(), String> {
        let n = reply.len();
        if n < self.min_reply_length || n > self.max_reply_length {
            return Err(format!(
                "reply of {n} bytes, want {}..={}",
                self.min_reply_length, self.max_reply_length
            ));
        }
        if let Some((want, mask)) = &self.require_reply {
            for (i, (r, (w, m))) in reply.iter().zip(want.iter().zip(mask)).enumerate() {
                if r & m != w & m {
                    return Err(format!("reply differs at byte {i}"));
                }
            }
        }
        Ok(())
    }

    async fn probe(&self, t: &Target) -> Result<String, String> {
        let sock = net::connect_udp(t, t.addr)
            .await
            .map_err(|e| format!("{}: {e}", t.addr))?;
        let payload = match &self.payload {
            Some(p) => p.clone(),
            None => std::iter::repeat_with(|| fastrand::u8(..))
                .take(16)
                .collect(),
        };
        sock.send(&payload)
            .await
            .map_err(|e| format!("send: {e}"))?;
        // One byte more than the limit, to tell an over-long reply from a full one.
        let mut buf = vec![0u8; self.max_reply_length.max(self.min_reply_length) + 1];
        let recv = tokio::time::timeout(t.connect_timeout, sock.recv(&mut buf)).await;
        match (recv, &self.require_reply) {
            (Ok(Ok(n)), Some(_)) => self
                .judge_reply(&buf[..n])
                .map(|_| format!("{n}-byte reply")),
            (Ok(Ok(n)), None) => Ok(format!("{n}-byte reply")),
            (Ok(Err(e)), _) => Err(format!("recv: {e}")),
            (Err(_), Some(_)) => Err("no reply".into()),
            (Err(_), None) => Ok("no ICMP error".into()),
        }
    }
}

impl Check for UdpCheck {
    fn kind(&self) -> &'static str {
        "UDP_CHECK"
    }

    fn run<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let start = Instant::now();
            // Connecting and sending a datagram do not block; only the wait is bounded.
            Outcome::from_result(self.probe(t).await, start)
        })
    }
}
