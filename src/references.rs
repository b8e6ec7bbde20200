//! The references file: reference beans a user added (confirmed or corrected results), exported
//! from one browser and imported into another, or kept in the page's storage across reloads.
//!
//! Layout: `MAGIC (8) | format version u32 LE | payload length u64 LE | payload | CRC-32 u32 LE`,
//! the payload a postcard-encoded [`ReferencesFile`]. Embeddings only mean something to the model
//! that made them, so the file names that model (a checksum of its weights) and its classes.
//! Format 2 adds each reference's traits ([`crate::traits`]); format 1 files still import,
//! without them.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::framing::{self, FrameError};
use crate::index::ReferenceSet;
use crate::traits::TRAITS;

pub const MAGIC: &[u8; 8] = b"BEANREFS";
pub const FORMAT_VERSION: u32 = 2;
/// The format before traits: read, never written.
const FORMAT_WITHOUT_TRAITS: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferencesFile {
    /// [`model_id`] of the model that computed the embeddings.
    pub model_id: String,
    /// Class names the labels index into.
    pub class_names: Vec<String>,
    pub references: ReferenceSet,
    /// Each reference's traits ([`crate::traits::TRAITS`] values), or none (empty) where its
    /// bean came without them; one per reference, or none at all.
    pub traits: Vec<Vec<f32>>,
}

/// [`ReferencesFile`] as format 1 wrote it.
#[derive(Deserialize)]
struct WithoutTraits {
    model_id: String,
    class_names: Vec<String>,
    references: ReferenceSet,
}

/// Identifies a model by its weights: CRC-32 of the bundle's weight bytes, in hex.
pub fn model_id(weights: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(weights))
}

fn refused(why: impl std::fmt::Display) -> Error {
    Error::Index(format!("cannot import references: {why}"))
}

impl ReferencesFile {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let payload = postcard::to_allocvec(self).map_err(|e| Error::Index(format!("cannot encode references: {e}")))?;
        Ok(framing::frame(MAGIC, FORMAT_VERSION, &payload))
    }

    /// Reads and checks a file: framing, checksum, then that its contents agree with themselves.
    /// Whether it fits the loaded model is [`ReferencesFile::fit`]'s job.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (version, payload) = match framing::unframe(MAGIC, FORMAT_VERSION, bytes) {
            Err(FrameError::Version(FORMAT_WITHOUT_TRAITS)) => {
                (FORMAT_WITHOUT_TRAITS, framing::unframe(MAGIC, FORMAT_WITHOUT_TRAITS, bytes))
            }
            other => (FORMAT_VERSION, other),
        };
        let payload = payload.map_err(|e| match e {
            FrameError::TooShort(_) | FrameError::Magic => {
                refused("not a beanscan references file (export one with \"Export references\")")
            }
            FrameError::Version(v) => refused(format!("references file format {v}; this beanscan reads format {FORMAT_VERSION}")),
            FrameError::Length { expected, actual } => {
                refused(format!("the file is truncated or padded (header announces {expected} bytes, file has {actual})"))
            }
            FrameError::Checksum => refused("checksum mismatch: the file is corrupted"),
        })?;
        let unreadable = |e: postcard::Error| refused(format!("unreadable contents ({e})"));
        let file: ReferencesFile = if version == FORMAT_WITHOUT_TRAITS {
            let old: WithoutTraits = postcard::from_bytes(payload).map_err(unreadable)?;
            ReferencesFile {
                model_id: old.model_id,
                class_names: old.class_names,
                references: old.references,
                traits: Vec::new(),
            }
        } else {
            postcard::from_bytes(payload).map_err(unreadable)?
        };
        file.references.validate(file.class_names.len()).map_err(refused)?;
        if file.references.embeddings.iter().any(|v| !v.is_finite()) {
            return Err(refused("an embedding holds a value that is not a finite number"));
        }
        if !file.traits.is_empty() && file.traits.len() != file.references.len() {
            return Err(refused(format!("{} references but traits for {}", file.references.len(), file.traits.len())));
        }
        if file.traits.iter().any(|t| !(t.is_empty() || t.len() == TRAITS) || t.iter().any(|v| !v.is_finite())) {
            return Err(refused(format!("a reference's traits are not {TRAITS} finite numbers")));
        }
        Ok(file)
    }

    /// The references relabelled into `class_names` order, if they were made by the model
    /// `model_id` with embeddings of `dim` values and every label is one of `class_names`.
    pub fn fit(self, model_id: &str, dim: usize, class_names: &[String]) -> Result<ReferenceSet> {
        if self.references.dim != dim {
            return Err(refused(format!("its embeddings have {} values, the loaded model makes {dim}", self.references.dim)));
        }
        if self.model_id != model_id {
            return Err(refused(format!(
                "they were made with another model ({}; loaded: {model_id}); add them again with this model",
                self.model_id
            )));
        }
        let mut map = Vec::with_capacity(self.class_names.len());
        for name in &self.class_names {
            match class_names.iter().position(|c| c == name) {
                Some(i) => map.push(i as u16),
                None => return Err(refused(format!("class \"{name}\" is not one of the loaded model's classes"))),
            }
        }
        let mut refs = self.references;
        for label in &mut refs.labels {
            *label = map[usize::from(*label)];
        }
        Ok(refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ReferencesFile {
        let mut references = ReferenceSet::new(2);
        references.push(&[1.0, 0.0], 1, "user-1".into()).unwrap();
        references.push(&[0.0, 1.0], 0, "user-2".into()).unwrap();
        ReferencesFile {
            model_id: "0badf00d".into(),
            class_names: vec!["Black".into(), "Normal".into()],
            references,
            traits: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_relabel_by_name() {
        let bytes = sample().to_bytes().unwrap();
        let file = ReferencesFile::from_bytes(&bytes).unwrap();
        assert_eq!(file, sample());
        let classes = vec!["Normal".to_string(), "Sour".to_string(), "Black".to_string()];
        let refs = file.fit("0badf00d", 2, &classes).unwrap();
        assert_eq!(refs.labels, vec![0, 2]);
        assert_eq!(refs.ids, vec!["user-1", "user-2"]);
    }

    #[test]
    fn traits_travel_and_files_without_them_still_import() {
        let mut file = sample();
        file.traits = vec![vec![0.5; TRAITS], Vec::new()];
        assert_eq!(ReferencesFile::from_bytes(&file.to_bytes().unwrap()).unwrap(), file);
        // Format 1, as beanscan wrote it before traits: the same fields, without them.
        let old = sample();
        let payload = postcard::to_allocvec(&(&old.model_id, &old.class_names, &old.references)).unwrap();
        let read = ReferencesFile::from_bytes(&framing::frame(MAGIC, 1, &payload)).unwrap();
        assert_eq!(read, old);
        // Traits for some references but not all, or of the wrong length, are refused.
        let err = |traits: Vec<Vec<f32>>| {
            let file = ReferencesFile { traits, ..sample() };
            ReferencesFile::from_bytes(&file.to_bytes().unwrap()).unwrap_err().to_string()
        };
        assert!(err(vec![Vec::new()]).contains("traits for 1"));
        assert!(err(vec![vec![1.0; 3], Vec::new()]).contains("finite numbers"));
        assert!(err(vec![vec![f32::NAN; TRAITS], Vec::new()]).contains("finite numbers"));
    }

    #[test]
    fn refuses_foreign_corrupt_and_unfitting_files() {
        let bytes = sample().to_bytes().unwrap();
        let err = |b: &[u8]| ReferencesFile::from_bytes(b).unwrap_err().to_string();
        assert!(err(b"BEANSCAN\x01\0\0\0").contains("not a beanscan references file"));
        assert!(err(&bytes[..bytes.len() - 1]).contains("truncated"));
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(err(&flipped).contains("checksum"));
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert!(err(&newer).contains("format 9"));

        let classes = vec!["Black".to_string(), "Normal".to_string()];
        let fit = |model: &str, dim: usize, classes: &[String]| sample().fit(model, dim, classes).unwrap_err().to_string();
        assert!(fit("0badf00d", 128, &classes).contains("2 values"));
        assert!(fit("12345678", 2, &classes).contains("another model"));
        assert!(fit("0badf00d", 2, &classes[..1]).contains("\"Normal\" is not one of"));
    }
}
