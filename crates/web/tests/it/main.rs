//! Every integration test of this crate, in one binary: one link instead of one per file,
//! which is most of what CI spends on building tests.

mod api;
mod authz;
mod common;
mod insiders;
mod openapi;
mod tls;
