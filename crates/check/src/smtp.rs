//! SMTP_CHECK: connect, expect a 220 banner, send `HELO name`, expect 250, send QUIT.
//! The whole dialogue is bounded by `connect_timeout`; the port defaults to 25.
//! `helo_name` defaults to global smtp_helo_name, else the local host name.

use crate::{net, BoxFuture, BuildContext, Check, Outcome, Target};
use keepalived_config::model::Checker;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

/// SMTP_CHECK.
#[derive(Debug, Clone)]
pub struct SmtpCheck {
    /// The HELO argument.
    pub helo_name: String,
}

/// Longest reply line, and most lines of one reply, accepted.
const MAX_LINE: u64 = 1024;
const MAX_LINES: usize = 64;

impl SmtpCheck {
    /// From an SMTP_CHECK block.
    pub fn from_model(c: &Checker, ctx: &BuildContext) -> SmtpCheck {
        let helo_name = c
            .helo_name
            .clone()
            .or(ctx.smtp_helo_name.clone())
            .unwrap_or_else(|| {
                nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| "localhost".into())
            });
        SmtpCheck { helo_name }
    }

    async fn probe(&self, t: &Target) -> Result<String, String> {
        let dest = t.addr_or_port(25);
        let stream = net::connect_tcp(t, dest)
            .await
            .map_err(|e| format!("connect to {dest}: {e}"))?;
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::new(rd);
        expect(&mut rd, 220, "banner").await?;
        wr.write_all(format!("HELO {}\r\n", self.helo_name).as_bytes())
            .await
            .map_err(|e| format!("send HELO: {e}"))?;
        expect(&mut rd, 250, "HELO").await?;
        let _ = wr.write_all(b"QUIT\r\n").await;
        Ok("HELO accepted".into())
    }
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect<R: AsyncRead + Unpin>(
    rd: &mut BufReader<R>,
    want: u16,
    what: &str,
) -> Result<(), String> {
    for _ in 0..MAX_LINES {
        let mut line = Vec::new();
        let n = (&mut *rd)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        if n == 0 {
            return Err(format!("{what}: connection closed"));
        }
        let code: u16 = std::str::from_utf8(line.get(..3).unwrap_or_default())
            .ok()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("{what}: bad reply {:?}", String::from_utf8_lossy(&line)))?;
        if line.get(3) == Some(&b'-') {
            continue;
        }
        return if code == want {
            Ok(())
        } else {
            Err(format!("{what}: got {code}, want {want}"))
        };
    }
    Err(format!("{what}: reply too long"))
}

impl Check for SmtpCheck {
    fn kind(&self) -> &'static str {
        "SMTP_CHECK"
    }

    fn run<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, Outcome> {
        Outcome::bounded(t, self.probe(t))
    }
}
