//! FILE_CHECK: the state and weight come from an integer in a `track_file`.
//!
//! As keepalived.conf(5) "Track files" says: with weight 0, a non-zero value is a failure;
//! otherwise value × weight (negated with `reverse`) is added to the real server's weight,
//! and the checker fails when that is ≤ -2147483648. keepalived watches the file with
//! inotify; here it is read on each run (every delay_loop).

use crate::{BoxFuture, BuildContext, Check, Outcome, Target};
use keepalived_config::model::Checker;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// FILE_CHECK.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// The file read.
    pub path: PathBuf,
    /// The multiplier (the checker's `weight`, else the track_file's, else 1).
    pub weight: i32,
    /// Negate the product.
    pub reverse: bool,
}

impl FileCheck {
    /// From a FILE_CHECK block: its `track_file` must name a `track_file` block with a `file`.
    pub fn from_model(c: &Checker, ctx: &BuildContext) -> Result<FileCheck, String> {
        let name = c
            .track_file
            .as_deref()
            .ok_or("FILE_CHECK without track_file")?;
        let tf = ctx
            .track_files
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("unknown track_file {name}"))?;
        let path = tf
            .file
            .as_deref()
            .ok_or_else(|| format!("track_file {name} has no file"))?;
        let (weight, reverse) = match c.weight {
            Some(w) => (w, c.reverse),
            None => (tf.weight.unwrap_or(1), tf.reverse),
        };
        Ok(FileCheck {
            path: path.into(),
            weight,
            reverse,
        })
    }

    /// The outcome for a value read from the file.
    pub fn judge(&self, value: i64, latency: Duration) -> Outcome {
        if self.weight == 0 {
            return if value == 0 {
                Outcome::up("value 0", latency)
            } else {
                Outcome::down(format!("value {value}"), latency)
            };
        }
        let mut w = value.saturating_mul(self.weight as i64);
        if self.reverse {
            w = w.saturating_neg();
        }
        let mut o = if w <= i32::MIN as i64 {
            Outcome::down(format!("value {value}, weight {w}"), latency)
        } else {
            Outcome::up(format!("value {value}, weight {w}"), latency)
        };
        o.weight = Some(w.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
        o
    }
}

/// The leading integer of `s` after blanks, as strtol reads it (0 when none).
pub fn leading_int(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let v: i64 = digits[..end]
        .parse()
        .unwrap_or(if end > 0 { i64::MAX } else { 0 });
    if neg {
        -v
    } else {
        v
    }
}

impl Check for FileCheck {
    fn kind(&self) -> &'static str {
        "FILE_CHECK"
    }

    fn run<'a>(&'a self, _t: &'a Target) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let start = Instant::now();
            let mut buf = Vec::new();
            let r = async {
                let f = tokio::fs::File::open(&self.path).await?;
                f.take(4096).read_to_end(&mut buf).await
            }
            .await;
            match r {
                Ok(_) => self.judge(leading_int(&String::from_utf8_lossy(&buf)), start.elapsed()),
                Err(e) => Outcome::down(format!("{}: {e}", self.path.display()), start.elapsed()),
            }
        })
    }
}
