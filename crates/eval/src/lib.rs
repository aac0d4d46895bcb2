//! Evaluation protocols and verification metrics.
//!
//! [`lfw`] parses the LFW View 2 protocol; [`metrics`] computes 10-fold accuracy, ROC curves and TAR at a
//! fixed FAR; [`openset`] runs BLUFR open-set identification (DIR at FPIR); [`demographic`] gives error
//! rates by group with confidence intervals; [`calibrate`] turns a target FPIR into a cosine threshold
//! and checks it on held-out people; [`cohort`] gives each template its own threshold from an
//! impostor cohort; [`multiphoto`] compares ways to match against several photos of one person; [`plot`] draws ROC and DET curves as SVG and PNG. Nothing here touches a model: the caller
//! supplies similarity scores, so the maths is tested on known numbers.

pub mod calibrate;
pub mod cohort;
pub mod demographic;
pub mod lfw;
pub mod metrics;
pub mod multiphoto;
pub mod openset;
pub mod plot;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}. Set --data or MANDAT_DATA to the test data directory")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("plot: {0}")]
    Plot(String),
}
