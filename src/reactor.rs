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
