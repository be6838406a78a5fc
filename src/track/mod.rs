//! The check framework: checks report results, the tracker applies
//! keepalived's rise/fall/weight rules and feeds the protocol engine.

pub mod security;
