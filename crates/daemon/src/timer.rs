//! A one-shot timer with nanosecond resolution for the VRRP loop.
//!
//! tokio's timer wheel rounds every deadline up to the next whole millisecond,
//! so a master-down interval fired up to a millisecond late, a tenth of the
//! interval at advert_int 0.01. A timerfd on CLOCK_MONOTONIC (the clock of
//! `std::time::Instant`) fires at the deadline itself.

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Instant;
use tokio::io::unix::AsyncFd;

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// One timerfd, re-armed by each `sleep_until`.
pub struct PreciseTimer {
    fd: AsyncFd<Fd>,
}

impl PreciseTimer {
    pub fn new() -> io::Result<Self> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: `Fd` owns the timerfd, which is neither replaced nor closed
        // while the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register(Fd(fd)) }.map_err(io::Error::from)?;
        Ok(PreciseTimer { fd })
    }

    /// Resolves at `deadline` (at once if it has passed). Cancel-safe: a
    /// dropped sleep leaves at most a stale expiry, which the next arming
    /// clears.
    pub async fn sleep_until(&mut self, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        // Arming resets the expiry count, so an expiry of an earlier,
        // abandoned deadline cannot end this sleep.
        self.fd.get_ref().0.set(
            Expiration::OneShot(TimeSpec::from_duration(left)),
            TimerSetTimeFlags::empty(),
        )?;
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| fd.get_ref().0.wait().map_err(io::Error::from)) {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn fires_at_or_after_the_deadline() {
        let mut t = PreciseTimer::new().unwrap();
        for _ in 0..3 {
            let d = Instant::now() + Duration::from_micros(300);
            t.sleep_until(d).await.unwrap();
            assert!(Instant::now() >= d);
        }
        // A deadline in the past resolves at once.
        t.sleep_until(Instant::now() - Duration::from_millis(1))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_abandoned_sleep_does_not_end_the_next() {
        let mut t = PreciseTimer::new().unwrap();
        let short = Instant::now() + Duration::from_micros(100);
        // Let the short deadline expire unread, then arm a later one.
        let _ = tokio::time::timeout(Duration::ZERO, t.sleep_until(short)).await;
        std::thread::sleep(Duration::from_millis(1));
        let later = Instant::now() + Duration::from_millis(5);
        t.sleep_until(later).await.unwrap();
        assert!(Instant::now() >= later);
    }
}
