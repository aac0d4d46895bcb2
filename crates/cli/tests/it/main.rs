//! Every integration test of this crate, in one binary: one link instead of one per file,
//! which is most of what CI spends on building tests.

mod browser;
mod cli;
mod cluster;
mod demand;
mod insiders;
mod lawful_cli;
mod workers;
