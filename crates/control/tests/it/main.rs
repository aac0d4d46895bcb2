//! Every integration test of this crate, in one binary: one link instead of one per file,
//! which is most of what CI spends on building tests.

mod calibration;
mod cameras;
mod common;
mod evidence;
mod histories;
mod insiders;
mod lawful;
mod partners;
mod retention;
mod subjects;
mod workers;
