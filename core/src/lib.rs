//! # roadside-core
//!
//! The shared core of Roadside, the field enforcement system of a transport enforcement agency
//! (交通运输综合行政执法). It runs inside the Android and iOS apps through UniFFI, in the desktop
//! `roadside` CLI, and (without its device layer) inside the sync server.
//!
//! Two layers:
//! - **Pure domain, no I/O**: [`day`] (the agency's calendar day), [`model`] (records), [`codes`] and [`validate`] (field checks),
//!   [`jcs`] and [`ledger`] (the signed, hash-chained ledger), [`evidence`] (streaming hashing and
//!   chunk manifests), [`rules`] (the law as data: discretion benchmark, exemption list, procedure
//!   policy, working-day calendar), [`bundle`] (signed, versioned reference bundles: build, verify,
//!   incremental fetch plan, load), [`witness`] (witness cosignatures on checkpoints and the policy
//!   of how many of which witnesses must cosign), [`document`] (feature `documents`: the standard 文书 rendered to
//!   PDF, with signatures and a verification QR code).
//! - **Device layer** (feature `device`): [`store`] (SQLCipher-encrypted SQLite, WAL, migrations,
//!   one transaction per action, outbox) and [`ffi`] (the UniFFI surface).

pub mod bundle;
pub mod codes;
pub mod day;
pub mod demo;
#[cfg(feature = "documents")]
pub mod document;
pub mod error;
pub mod evidence;
pub mod jcs;
pub mod ledger;
pub mod model;
pub mod officer;
pub mod rollover;
pub mod rules;
pub mod steps;
pub mod validate;
pub mod witness;

#[cfg(feature = "device")]
pub mod ffi;
#[cfg(feature = "device")]
pub mod store;
#[cfg(feature = "sync")]
pub mod sync;

pub use error::{ErrorKind, Issue, Result, RoadsideError};

#[cfg(feature = "ffi")]
uniffi::setup_scaffolding!("roadside_core");
