//! The integration tests, as one test binary (`cargo test --test it`; one module per area, e.g.
//! `cargo test --test it auth::`). One binary links the crate once instead of once per file:
//! see README "Building and testing" for the measured build times.

mod common;

mod audit_durability;
mod auth;
mod card_quality;
mod cli_never_panics;
mod ehr_shapes;
mod fhir_fetch;
mod fuzz_parsers;
mod http_api;
mod knowledge_generated;
mod limits;
mod metamorphic;
mod metrics;
mod openapi_sync;
mod order_hooks;
mod patient_view_card;
mod persistence_http;
mod sample_data;
mod scenarios;
mod security;
mod shutdown;
mod smart_app;
mod store;
mod timeline;
mod traces;
