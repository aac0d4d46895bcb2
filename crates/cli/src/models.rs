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
        }
    }
    Ok(())
}
