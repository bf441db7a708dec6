//! DNS_CHECK: one query over UDP (type SOA and name `.` by default, keepalived.conf(5));
//! up when a reply with the query's id, the QR bit and RCODE NOERROR arrives within
//! `connect_timeout`. Replies with another id are ignored. The port defaults to 53.

use crate::{net, BoxFuture, Check, Outcome, Target};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use keepalived_config::model::Checker;
use std::str::FromStr;

/// DNS_CHECK.
#[derive(Debug, Clone)]
pub struct DnsCheck {
    /// Query name.
    pub name: Name,
    /// Query type.
    pub qtype: RecordType,
}

impl DnsCheck {
    /// From a DNS_CHECK block (`type` A|NS|CNAME|SOA|MX|TXT|AAAA, `name`).
    pub fn from_model(c: &Checker) -> Result<DnsCheck, String> {
        let t = c.dns_type.as_deref().unwrap_or("SOA").to_ascii_uppercase();
        if !matches!(
            t.as_str(),
            "A" | "NS" | "CNAME" | "SOA" | "MX" | "TXT" | "AAAA"
        ) {
            return Err(format!("DNS_CHECK: unsupported type {t}"));
        }
        let qtype = RecordType::from_str(&t).map_err(|e| format!("type {t}: {e}"))?;
        let n = c.name.as_deref().unwrap_or(".");
        let name = Name::from_ascii(n).map_err(|e| format!("name {n}: {e}"))?;
        Ok(DnsCheck { name, qtype })
    }

    async fn probe(&self, t: &Target) -> Result<String, String> {
        let dest = t.addr_or_port(53);
        let id: u16 = rand::random();
        let mut m = Message::new();
        m.set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .add_query(Query::query(self.name.clone(), self.qtype));
        let out = m.to_vec().map_err(|e| format!("encode: {e}"))?;
        let sock = net::connect_udp(t, dest)
            .await
            .map_err(|e| format!("{dest}: {e}"))?;
        sock.send(&out).await.map_err(|e| format!("send: {e}"))?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = sock
                .recv(&mut buf)
                .await
                .map_err(|e| format!("recv: {e}"))?;
            let Ok(r) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if r.id() != id {
                continue;
            }
            if r.message_type() != MessageType::Response {
                return Err("reply is not a response".into());
            }
            if r.response_code() != ResponseCode::NoError {
                return Err(format!("rcode {}", r.response_code()));
            }
            return Ok(format!("{} answers", r.answer_count()));
        }
    }
}

impl Check for DnsCheck {
    fn kind(&self) -> &'static str {
        "DNS_CHECK"
    }

    fn run<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, Outcome> {
        Outcome::bounded(t, self.probe(t))
    }
}
