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
        let wait = TimeSpec::from_duration(deadline - now);
        self.fd
            .get_ref()
            .0
            .set(Expiration::OneShot(wait), TimerSetTimeFlags::empty())
            .map_err(io::Error::from)?;
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
