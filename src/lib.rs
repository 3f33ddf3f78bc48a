//! trd-cds: a CDS Hooks service that detects, stages and explains treatment-resistant depression.
//! See ARCHITECTURE.md for the map.

pub mod cds_hooks;
pub mod clinical;
pub mod dates;
pub mod fhir;
pub mod knowledge;
