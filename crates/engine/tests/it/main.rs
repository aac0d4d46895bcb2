//! Every integration test of this crate, in one binary: one link instead of one per file,
//! which is most of what CI spends on building tests.

mod accountability;
mod common;
mod e2e;
mod no_trace;
mod overload;
mod rtsp;
mod stopping;
