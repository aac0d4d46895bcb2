//! `mandat models fetch|list|verify`.

use anyhow::Result;
use clap::Subcommand;
use mandat_models::{MANIFEST, Store, fetch_all};
use serde_json::json;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Download the pinned wheels from PyPI with pip, check every sha256, prepare, and cache outside the
    /// repository. Idempotent: files already present with the right hash are not fetched again.
    Fetch {
        /// Python interpreter whose pip downloads the wheels.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Also fetch ONNX Runtime with the CUDA execution provider (onnxruntime-gpu, same version,
        /// about 250 MB), for `--device cuda`. CUDA 13 and cuDNN 9 come from the system.
        #[arg(long)]
        gpu: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show each model: name, role, source package, licence, sha256, path and whether it verifies.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Verify every cached file against its pinned hash; exits non-zero if any is missing or altered.
    Verify,
    /// Add an ONNX face embedder a police authority procured or supplies by hand: checked to run
    /// with SFace's interface (input `data` [N,3,112,112], output [N,128]), pinned by sha256 and
    /// copied into the cache with its licence. No permit may use it until an evaluation report of
    /// it is recorded and its calibration stored; run it with `--embedder NAME`.
    Register {
        /// The ONNX file.
        file: std::path::PathBuf,
        /// The name it is run by (`--embedder NAME`): lower-case letters, digits, '.', '_', '-'.
        #[arg(long)]
        name: String,
        /// What it is; only `embedder` can be registered.
        #[arg(long)]
        role: mandat_models::Role,
        /// The licence text the model is used under.
        #[arg(long)]
        licence: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ModelsCommand) -> Result<()> {
    let store = Store::from_env()?;
    match cmd {
        ModelsCommand::Fetch { python, gpu, json } => {
            let reports = fetch_all(&store, &python, gpu, &mut |msg| eprintln!("{msg}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                for r in reports {
                    println!(
                        "{:<14} {:<8} {} {}",
                        r.name,
                        r.action,
                        r.sha256,
                        r.path.display()
                    );
                }
            }
        }
        ModelsCommand::List { json } => {
            let rows: Vec<_> = MANIFEST
                .iter()
                .map(|s| {
                    let path = store.path(s);
                    let status = match store.verify(s.id) {
                        Ok(_) => "ok".to_string(),
                        Err(e) => e.to_string(),
                    };
                    json!({
                        "name": s.id.as_str(),
                        "role": s.role,
                        "package": s.source.requirement,
                        "member": s.source.member,
                        "licence": s.licence,
                        "licence_file": store.licence_path(s),
                        "sha256": s.final_sha256().unwrap_or("unsupported platform"),
                        "source_sha256": s.source_sha256().unwrap_or("unsupported platform"),
                        "prepared": s.prepared.map(|p| p.what),
                        "optional": s.optional,
                        "path": path,
                        "status": status,
                    })
                })
                .chain(store.registered()?.into_iter().map(|r| {
                    let (path, status) = match store.embedder(&r.name) {
                        Ok(e) => (e.path, "ok".to_string()),
                        Err(e) => (store.registered_path(&r.name), e.to_string()),
                    };
                    json!({
                        "name": r.name,
                        "role": "face embedder (registered by hand)",
                        "package": "registered",
                        "licence": r.licence_title,
                        "licence_file": store.registered_licence_path(&r.name),
                        "sha256": r.sha256,
                        "registered_at": r.registered_at,
                        "optional": true,
                        "path": path,
                        "status": status,
                    })
                }))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    println!("{}", r["name"].as_str().unwrap_or_default());
                    for key in [
                        "role", "package", "licence", "sha256", "path", "prepared", "status",
                    ] {
                        let v = &r[key];
                        let text = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string());
                        println!("  {key:<9} {text}");
                    }
                }
            }
        }
        ModelsCommand::Verify => {
            for (id, path) in store.verify_all()? {
                println!("{:<14} ok {}", id.as_str(), path.display());
            }
            for r in store.registered()? {
                let e = store.embedder(&r.name)?;
                println!("{:<14} ok {}", r.name, e.path.display());
            }
        }
        ModelsCommand::Register {
            file,
            name,
            role,
            licence,
            json,
        } => {
            check_runs_as_embedder(&store, &file)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let (r, how) = store.register(&file, &name, role, &licence, now)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"registered": r, "registration": how}))?
                );
            } else {
                use mandat_models::Registration;
                println!(
                    "{} {} sha256 {}\n  not usable by any permit yet: run `mandat eval report --embedder {name}` and record it (auditor), then store its calibration (admin), then serve with `--embedder {name}`",
                    r.name,
                    match how {
                        Registration::New => "registered",
                        Registration::Unchanged => "already registered",
                        Registration::Repaired => {
                            "REPAIRED: its copy in the cache was missing or altered (look into who changed it); copied again from this file"
                        }
                    },
                    r.sha256
                );
            }
        }
    }
    Ok(())
}

/// A file is registered only if it runs as mandat runs an embedder: one aligned face in, 128
/// finite values out, and different faces give different values. Whether it recognises faces
/// well is for `mandat eval report` to show.
fn check_runs_as_embedder(store: &Store, file: &std::path::Path) -> Result<()> {
    use anyhow::Context;
    let rt = mandat_face::Runtime::load(&store.verify(mandat_models::ModelId::OnnxRuntime)?)?;
    let mut e = mandat_face::Embedder::new(&rt, file, Default::default())
        .with_context(|| format!("{} does not load as an ONNX model", file.display()))?;
    let face = |seed: u32| mandat_face::AlignedFace {
        pixels: (0..3 * 112 * 112u32)
            .map(|i| ((i ^ seed).wrapping_mul(2_654_435_761) >> 24) as f32)
            .collect(),
        transform: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    };
    let (a, b) = (face(0x5bd1_e995), face(0x27d4_eb2f));
    let out = e.embed(&[&a, &b]).with_context(|| {
        format!(
            "{} does not run as a face embedder here: mandat runs embedders with SFace's interface (input `data`, f32 [N,3,112,112]; output f32 [N,128]); other interfaces are not built",
            file.display()
        )
    })?;
    let (x, y) = (out[0].as_slice(), out[1].as_slice());
    // A zero or non-finite output is normalised to zeros.
    let zero = |v: &[f32]| v.iter().all(|c| *c == 0.0);
    if zero(x) || zero(y) || x == y {
        anyhow::bail!(
            "{} gives non-finite or constant embeddings; it is not registered",
            file.display()
        );
    }
    Ok(())
}
