//! The face tools (`mandat detect`, `mandat compare`) in an installation: face analysis of any
//! image, outside every permit, so only the evaluation roles run them and each use is in the
//! audit log with the images' hashes (never the images, never an embedding).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Control, ControlError, Result, Session, require};
use mandat_law::permissions::Action;
use mandat_store::StoreError;

/// One use of a face tool, as the CLI reports it before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolUse {
    /// `detect` or `compare`.
    pub tool: String,
    /// sha256 of each image, in the order given (two for `compare`).
    pub files: Vec<String>,
    /// Whether embeddings are printed (`--embeddings`), which is audited too.
    pub embeddings: bool,
    /// The embedder that runs (`--embedder`).
    #[serde(default)]
    pub embedder: Option<mandat_law::risk::ModelRef>,
}

/// The most images one use may name.
pub const MAX_TOOL_FILES: usize = 1000;

impl Control {
    /// Record a use of a face tool (auditors and admins), before it runs.
    pub async fn record_tool_use(&self, actor: &Session, u: &ToolUse, origin: &str) -> Result<()> {
        require(actor, Action::UseFaceTool)?;
        let invalid = |m: String| ControlError::Store(StoreError::Invalid(m));
        let n = match u.tool.as_str() {
            "detect" => 1..=MAX_TOOL_FILES,
            "compare" => 2..=2,
            other => {
                let head: String = other.chars().take(20).collect();
                return Err(invalid(format!(
                    "{head:?} is not a face tool; they are `detect` and `compare`"
                )));
            }
        };
        if !n.contains(&u.files.len()) {
            return Err(invalid(format!(
                "`{}` names {} image(s); it takes {} to {}",
                u.tool,
                u.files.len(),
                n.start(),
                n.end()
            )));
        }
        if let Some(m) = &u.embedder
            && (m.name.len() > 40 || !mandat_law::risk::is_sha256(&m.sha256))
        {
            return Err(invalid(
                "the embedder is named in at most 40 characters, with its sha256".into(),
            ));
        }
        if let Some(bad) = u.files.iter().find(|h| !mandat_law::risk::is_sha256(h)) {
            let head: String = bad.chars().take(20).collect();
            return Err(invalid(format!(
                "{head:?} is not a sha256 of an image (64 lower-case hex digits)"
            )));
        }
        self.store
            .record(mandat_audit::Record {
                at: self.now()?.0,
                actor: actor.user.clone(),
                action: format!("tool.{}", u.tool),
                permit: None,
                origin: origin.into(),
                details: json!({"files": u.files, "embeddings": u.embeddings, "embedder": u.embedder}),
            })
            .await?;
        Ok(())
    }
}
