//! `mandat detect` and `mandat compare`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use mandat_face::read_image;
use serde_json::json;

pub use mandat_options::main_face;

use crate::{Models, PipelineArgs};

/// OpenCV's published SFace cosine threshold; `mandat eval lfw` reports the LFW-derived ones.
pub const DEFAULT_THRESHOLD: f32 = 0.363;

#[derive(Args)]
pub struct DetectArgs {
    /// Images (JPEG or PNG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// One JSON object per image and line, embeddings included.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

#[derive(Args)]
pub struct CompareArgs {
    image_a: PathBuf,
    image_b: PathBuf,
    /// Cosine similarity above which the two faces are judged the same person.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    threshold: f32,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

pub fn detect(args: DetectArgs) -> Result<()> {
    let models = Models::load(&args.pipeline)?;
    let mut pipe = models.pipeline(&args.pipeline)?;
    let mut failed = 0;
    for path in &args.images {
        let shown = path.display().to_string();
        let result = read_image(path)
            .map_err(anyhow::Error::from)
            .and_then(|img| Ok((img.width, img.height, pipe.analyze(&img)?)));
        match result {
            Ok((width, height, faces)) => {
                if args.json {
                    println!(
                        "{}",
                        json!({"image": shown, "width": width, "height": height, "faces": faces})
                    );
                } else {
                    println!("{shown}: {width}x{height}, {} face(s)", faces.len());
                    for f in &faces {
                        println!(
                            "  box [{:.0}, {:.0}, {:.0}, {:.0}] score {:.3} eyes {:.0} px sharpness {:.0} yaw {:+.2}",
                            f.bbox[0],
                            f.bbox[1],
                            f.bbox[2],
                            f.bbox[3],
                            f.score,
                            f.quality.inter_eye_px,
                            f.quality.sharpness,
                            f.quality.yaw
                        );
                    }
                }
            }
            Err(e) => {
                failed += 1;
                if args.json {
                    println!("{}", json!({"image": shown, "error": format!("{e:#}")}));
                } else {
                    eprintln!("{shown}: {e:#}");
                }
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} image(s) could not be read",
            args.images.len()
        );
    }
    Ok(())
}

pub fn compare(args: CompareArgs) -> Result<()> {
    let models = Models::load(&args.pipeline)?;
    let mut pipe = models.pipeline(&args.pipeline)?;
    let a = main_face(&mut pipe, &args.image_a)?;
    let b = main_face(&mut pipe, &args.image_b)?;
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (a, _) => bail!(
            "no face found in {}; use a photo with one clear face",
            if a.is_none() {
                &args.image_a
            } else {
                &args.image_b
            }
            .display()
        ),
    };
    let similarity = a.embedding.cosine(&b.embedding);
    let same = similarity > args.threshold;
    if args.json {
        println!(
            "{}",
            json!({"similarity": similarity, "threshold": args.threshold, "same_person": same})
        );
    } else {
        println!(
            "cosine similarity {similarity:.4} (threshold {:.3}): {}",
            args.threshold,
            if same {
                "same person"
            } else {
                "different people"
            }
        );
    }
    Ok(())
}
