//! trd-cds: a CDS Hooks service that detects, stages and explains treatment-resistant depression.
//! See ARCHITECTURE.md for the map: `http` (shell) → `cds_hooks` (wire) → `fhir::reader` →
//! `clinical` (pure engine) → `cards` (pure rendering); `store` persists audit and feedback.

pub mod app;
pub mod cards;
pub mod cds_hooks;
pub mod clinical;
pub mod config;
pub mod dates;
pub mod fhir;
pub mod http;
pub mod knowledge;
pub mod pipeline;
pub mod store;
pub mod telemetry;
pub mod timeline;

pub use http::openapi::openapi_json;
