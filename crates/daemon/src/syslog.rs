//! Logging to syslog, as keepalived does without `-l`: one datagram per line to
//! /dev/log, `<PRI>keepalived-rs[PID]: message`, facility LOG_DAEMON or
//! LOG_LOCAL0..7 with `-S`.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

const LOG_DAEMON: u8 = 3;
const LOG_LOCAL0: u8 = 16;

/// Where lines go: the connected /dev/log socket and the facility.
#[derive(Clone)]
pub struct Syslog {
    sock: Arc<UnixDatagram>,
    facility: u8,
    tag: String,
}

impl Syslog {
    /// Connects to /dev/log; `local` is `-S N` (LOG_LOCALN), else LOG_DAEMON.
    pub fn connect(local: Option<u8>) -> io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.connect("/dev/log")?;
        Ok(Syslog {
            sock: Arc::new(sock),
            facility: local.map_or(LOG_DAEMON, |n| LOG_LOCAL0 + n.min(7)),
            tag: format!("keepalived-rs[{}]", std::process::id()),
        })
    }
}

/// syslog severity of a tracing level.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// One event's text, sent as one datagram when the formatter is done with it.
pub struct Line {
    to: Syslog,
    pri: u8,
    buf: Vec<u8>,
}

impl Write for Line {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        let msg = format!(
            "<{}>{}: {text}",
            self.to.facility * 8 + self.pri,
            self.to.tag
        );
        // A full or missing syslog loses the line; logging never blocks the daemon.
        let _ = self.to.sock.send(msg.as_bytes());
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            to: self.clone(),
            pri: 6,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            to: self.clone(),
            pri: severity(meta.level()),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_datagrams_with_priority() {
        let dir = std::env::temp_dir().join(format!("krs-syslog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let sock = UnixDatagram::unbound().unwrap();
        sock.connect(&path).unwrap();
        let s = Syslog {
            sock: Arc::new(sock),
            facility: LOG_LOCAL0 + 2,
            tag: "keepalived-rs[1]".into(),
        };
        {
            let mut w = s.make_writer();
            w.pri = severity(&Level::WARN);
            writeln!(w, "(VI_1) Entering MASTER STATE").unwrap();
        }
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        // LOG_LOCAL2 (18) * 8 + warning (4) = 148
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "<148>keepalived-rs[1]: (VI_1) Entering MASTER STATE"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
