//! The check framework: checks report results, the tracker applies
//! keepalived's rise/fall/weight rules and feeds the protocol engine.

pub mod check;
pub mod exec;
pub mod file;
pub mod lvs;
pub mod mysql;
pub mod plugin;
pub mod process;
pub mod script;
pub mod security;
pub mod tracker;
pub mod witness;

pub use tracker::{Contribution, Evaluation, Kind, ObjId, Reference, Tracker};
