//! The one place an owned file descriptor meets tokio's reactor.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

use tokio::io::unix::AsyncFd;

/// Types that own their file descriptor for their whole life and never
/// change it: what `AsyncFd::register` requires.
pub trait OwnsFd: AsRawFd {}

impl OwnsFd for socket2::Socket {}
impl OwnsFd for InotifyFd {}
impl OwnsFd for TimerFdOwner {}

/// A timerfd (nix exposes only `AsFd` for it).
pub struct TimerFdOwner(pub nix::sys::timerfd::TimerFd);

impl AsRawFd for TimerFdOwner {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot timer with nanosecond resolution (tokio's timer wheel has
/// millisecond ticks; VRRP deadlines such as Skew_Time deserve better).
pub struct PreciseTimer {
    fd: AsyncFd<TimerFdOwner>,
    /// The deadline the timer is set for: the owner loop asks for the same
    /// one after every event, and re-arming it would be a syscall each.
    armed: std::cell::Cell<Option<std::time::Instant>>,
}

impl PreciseTimer {
    pub fn new() -> io::Result<PreciseTimer> {
        use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
        let t = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        Ok(PreciseTimer {
            fd: register(TimerFdOwner(t))?,
            armed: std::cell::Cell::new(None),
        })
    }

    /// Waits until `deadline` (at once if it has passed).
    pub async fn sleep_until(&self, deadline: std::time::Instant) -> io::Result<()> {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        let now = std::time::Instant::now();
        if deadline <= now {
            return Ok(());
        }
        if self.armed.get() != Some(deadline) {
            let wait = TimeSpec::from_duration(deadline - now);
            self.armed.set(None);
            self.fd
                .get_ref()
                .0
                .set(Expiration::OneShot(wait), TimerSetTimeFlags::empty())
                .map_err(io::Error::from)?;
            self.armed.set(Some(deadline));
        }
        loop {
            let mut g = self.fd.readable().await?;
            // Reading clears the expiration count; EAGAIN means not yet.
            match g.get_inner().0.wait() {
                Ok(()) => return Ok(()),
                Err(nix::errno::Errno::EAGAIN) => g.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// An inotify instance (nix exposes only `AsFd` for it).
pub struct InotifyFd(pub nix::sys::inotify::Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// Registers an owned descriptor with the reactor.
pub fn register<T: OwnsFd>(t: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: `OwnsFd` types own their descriptor: it stays open and refers
    // to the same file description until the `AsyncFd` drops the value.
    unsafe { AsyncFd::register(t) }.map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::PreciseTimer;
    use std::time::{Duration, Instant};

    /// The owner loop asks again for a deadline it is already waiting for
    /// (after every event), then for an earlier and a later one: each wait
    /// ends at its own deadline, never early.
    #[tokio::test]
    async fn repeated_and_changed_deadlines() {
        let t = PreciseTimer::new().unwrap();
        let start = Instant::now();
        let d1 = start + Duration::from_millis(40);
        // An event cuts the first wait short; the same deadline again.
        let cut = tokio::time::timeout(Duration::from_millis(10), t.sleep_until(d1)).await;
        assert!(cut.is_err());
        t.sleep_until(d1).await.unwrap();
        assert!(Instant::now() >= d1);
        // A deadline that has passed returns at once.
        t.sleep_until(d1).await.unwrap();
        // Re-armed later, then earlier than that.
        let d3 = Instant::now() + Duration::from_millis(60);
        let _ = tokio::time::timeout(Duration::from_millis(5), t.sleep_until(d3)).await;
        let d2 = Instant::now() + Duration::from_millis(20);
        t.sleep_until(d2).await.unwrap();
        let woke = Instant::now();
        assert!(woke >= d2 && woke < d3, "woke {:?} after d2", woke - d2);
    }
}
