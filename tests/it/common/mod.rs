//! Helpers shared by the integration tests (one test binary: `tests/it/main.rs`).

pub mod app;
pub mod fhir_server;
pub mod jwt;
pub mod local_server;
pub mod logs;
pub mod pg;
pub mod process;
pub mod raw;
