//! Ascend: a paper-trading engine for the Korean stock market (KRX: KOSPI and KOSDAQ) on
//! PostgreSQL.
//!
//! Layers: [`domain`] (pure rules and value types), [`store`] (PostgreSQL), [`app`] (one use
//! case per subcommand). The `ascend` binary only parses arguments and renders results.

pub mod app;
pub mod chart;
pub mod clock;
pub mod domain;
pub mod error;
pub mod market;
pub mod store;

pub use error::{exit, Error, Result};
