//! `mandat detect` and `mandat compare`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use crate::{Models, PipelineArgs};

/// OpenCV's published SFace cosine threshold; `mandat eval lfw` reports the LFW-derived ones.
pub const DEFAULT_THRESHOLD: f32 = 0.363;

/// The largest image the face tools read, and the most one `detect` holds at once.
const MAX_IMAGE_BYTES: u64 = 64 << 20;
const MAX_BATCH_BYTES: u64 = 1 << 30;

/// An image read once, so that what is hashed for the audit log is what is analysed (a named
/// pipe or a rename cannot show the log one image and the model another).
fn read_once(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot read: {e}"))?;
    if !f.metadata()?.is_file() {
        bail!("not a regular file");
    }
    let mut bytes = Vec::new();
    f.take(MAX_IMAGE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        bail!("larger than 64 MiB; not an image mandat reads");
    }
    Ok(bytes)
}

/// How a face tool runs here: recorded in the audit log for a logged-in auditor or admin where a
/// CLI session is, refused where an installation is without one, and a development run where
/// neither is. `images` are the bytes about to be analysed.
fn governed(
    paths: &crate::lawful::Paths,
    tool: &str,
    images: &[&[u8]],
    embeddings: bool,
    models: &Models,
) -> Result<()> {
    use anyhow::Context;
    if paths.session().exists() {
        let c = crate::client::Client::logged_in(paths)?;
        let _: serde_json::Value = c
            .post(
                "/api/v1/tools/use",
                &mandat_control::tools::ToolUse {
                    tool: tool.into(),
                    files: images
                        .iter()
                        .map(|b| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b)))
                        .collect(),
                    embeddings,
                    embedder: Some(models.embedder_ref()),
                },
            )
            .with_context(|| {
                format!(
                    "this use of `mandat {tool}` could not be recorded in the audit log, so it did not run (in an installation only auditors and admins run it)"
                )
            })?;
        return Ok(());
    }
    let installed = paths.db.is_some() || paths.home().join("mandat.db").exists();
    if installed {
        bail!(
            "this machine holds a mandat installation ({}): `mandat {tool}` runs only after `mandat login` as an auditor or admin, and each use is audited",
            paths.home().display()
        );
    }
    eprintln!("note: no mandat installation and no login here: a development run, not audited");
    Ok(())
}

/// The face nearest the image centre, embedded.
fn main_face_of(
    pipe: &mut mandat_face::Pipeline,
    img: &mandat_face::RgbImage,
) -> Result<Option<mandat_face::Face>> {
    let dets = pipe.detector.detect(img)?;
    let Some(i) = mandat_face::nearest_to_center(&dets, img.width, img.height) else {
        return Ok(None);
    };
    Ok(pipe.embed_detections(img, &dets[i..=i])?.pop())
}

/// Drop the embeddings from a JSON face unless they were asked for.
fn without_embedding(mut v: serde_json::Value, embeddings: bool) -> serde_json::Value {
    if !embeddings && let Some(o) = v.as_object_mut() {
        o.remove("embedding");
    }
    v
}

#[derive(Args)]
pub struct DetectArgs {
    /// Images (JPEG or PNG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// One JSON object per image and line.
    #[arg(long)]
    json: bool,
    /// Print each face's embedding in the JSON (biometric data; audited in an installation).
    #[arg(long, requires = "json")]
    embeddings: bool,
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

pub fn detect(paths: crate::lawful::Paths, args: DetectArgs) -> Result<()> {
    let models = Models::load(&args.pipeline)?;
    let read: Vec<Result<Vec<u8>>> = args.images.iter().map(|p| read_once(p)).collect();
    let readable: Vec<&[u8]> = read
        .iter()
        .filter_map(|r| r.as_ref().ok().map(Vec::as_slice))
        .collect();
    // Every image is held from its hash to its analysis: a batch is bounded.
    if readable.iter().map(|b| b.len() as u64).sum::<u64>() > MAX_BATCH_BYTES {
        bail!("the images come to more than 1 GiB; run `mandat detect` on fewer at a time");
    }
    if !readable.is_empty() {
        governed(&paths, "detect", &readable, args.embeddings, &models)?;
    }
    let mut pipe = models.pipeline(&args.pipeline)?;
    let mut failed = 0;
    for (path, bytes) in args.images.iter().zip(read) {
        let shown = path.display().to_string();
        let result = bytes.and_then(|b| {
            let img = mandat_face::decode(&b, mandat_face::DecodeLimits::default())?;
            Ok((img.width, img.height, pipe.analyze(&img)?))
        });
        match result {
            Ok((width, height, faces)) => {
                if args.json {
                    println!(
                        "{}",
                        json!({"image": shown, "width": width, "height": height, "faces": faces
                            .iter()
                            .map(|f| without_embedding(json!(f), args.embeddings))
                            .collect::<Vec<_>>()})
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

pub fn compare(paths: crate::lawful::Paths, args: CompareArgs) -> Result<()> {
    use anyhow::Context;
    let models = Models::load(&args.pipeline)?;
    let read =
        |p: &std::path::Path| read_once(p).with_context(|| format!("reading {}", p.display()));
    let (bytes_a, bytes_b) = (read(&args.image_a)?, read(&args.image_b)?);
    governed(&paths, "compare", &[&bytes_a, &bytes_b], false, &models)?;
    let mut pipe = models.pipeline(&args.pipeline)?;
    let mut face = |bytes: &[u8], p: &std::path::Path| {
        let img = mandat_face::decode(bytes, mandat_face::DecodeLimits::default())
            .with_context(|| format!("reading {}", p.display()))?;
        main_face_of(&mut pipe, &img)
    };
    let a = face(&bytes_a, &args.image_a)?;
    let b = face(&bytes_b, &args.image_b)?;
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
