//! The VRRP protocol core: codec, state machine, timers and sync groups.
//!
//! No I/O, no clock, no tokio: the driver feeds events with the current
//! time and carries out the returned actions in order.

pub mod instance;
pub mod packet;
pub mod rx;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod stats;
pub mod sync;
pub mod timers;

pub use instance::{
    Action, Event, GarpParams, Instance, Linger, LingerEnd, Note, Output, Params, Reason, Stance, State, UnicastPeer,
};
pub use packet::{Advert, AdvertPacket, AuthType, ChecksumMode, Family, MessageType, Version};
pub use rx::{RxError, RxMeta};
pub use stats::Stats;
pub use sync::{InstanceId, Router, RouterOutput};

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
