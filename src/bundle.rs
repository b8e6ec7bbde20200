//! The bundle: everything the browser needs in one versioned, checksummed file — network weights,
//! reference embeddings with labels and ids, the HNSW index, class names and preprocessing.
//!
//! Layout: `MAGIC (8) | format version u32 LE | payload length u64 LE | payload | CRC-32 u32 LE`,
//! where the payload is postcard-encoded [`Bundle`] and the CRC covers everything before it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::framing::{self, FrameError};
use crate::index::{Graph, ReferenceSet};
use crate::lite0;
use crate::model::{EncoderKind, ModelConfig};
use crate::preprocess::PreprocessParams;

pub const MAGIC: &[u8; 8] = b"BEANSCAN";
/// Version 2 added the encoder architecture to the model settings, version 3 the view count,
/// version 4 the tray beans' own unknown threshold, version 5 the white reference of the
/// preprocessing, version 6 its plain background; version 1 files (always the ResNet-like
/// encoder), version 2 files (one view), version 3 files (one threshold), version 4 files (no
/// white reference) and version 5 files (no plain background) are still read.
pub const FORMAT_VERSION: u32 = 6;
const FORMAT_V1: u32 = 1;
const FORMAT_V2: u32 = 2;
const FORMAT_V3: u32 = 3;
const FORMAT_V4: u32 = 4;
const FORMAT_V5: u32 = 5;

/// The bundle the library ships with (trained and exported by `beanscan tune`). The page's
/// modules are built without it (feature `builtin-bundle` off) and fetch the same file.
#[cfg(feature = "builtin-bundle")]
pub static DEFAULT_BUNDLE: &[u8] = include_bytes!("../bundle/default.beanscan");

/// Numeric type of the stored weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeightType {
    F32,
    F16,
    /// [`crate::quant`]: i8 with per-slice scales; not burnpack.
    Int8,
}

#[derive(Serialize, Deserialize)]
pub struct Bundle {
    /// Human-readable description: what was trained, on what, when.
    pub description: String,
    pub model: ModelConfig,
    pub preprocess: PreprocessParams,
    pub class_names: Vec<String>,
    pub weight_type: WeightType,
    /// burnpack bytes of the [`crate::model::Embedder`] (encoder + projection head).
    pub weights: Vec<u8>,
    /// Labelled reference embeddings. When `graph` is present its points hold the embeddings and
    /// this set's `embeddings` are left empty in the file (restored on load).
    pub references: ReferenceSet,
    pub graph: Option<Graph>,
    pub default_k: u32,
    pub default_threshold: f32,
    /// Flips/turns a photo's embedding averages over ([`crate::views`]); the references were
    /// embedded the same way.
    pub default_views: u8,
    /// The unknown threshold for beans cut from tray photos, calibrated on tray beans: another
    /// camera, lighting and framing put them farther from single-bean references than single-bean
    /// photos are. None: the bundle had no tray beans to calibrate on; `default_threshold` serves.
    pub tray_threshold: Option<f32>,
}

impl Bundle {
    /// The bundle compiled into the library.
    pub fn embedded() -> Result<Self> {
        #[cfg(feature = "builtin-bundle")]
        return Self::from_bytes(DEFAULT_BUNDLE);
        #[cfg(not(feature = "builtin-bundle"))]
        Err(Error::Bundle("this build has no built-in bundle: pass the bytes of a .beanscan file".into()))
    }

    /// The threshold for tray beans: their own when calibrated, else the single-bean one.
    pub fn tray_threshold(&self) -> f32 {
        self.tray_threshold.unwrap_or(self.default_threshold)
    }

    /// Version string shown to users, e.g. in the page footer.
    pub fn version_string(&self) -> String {
        format!("bundle format v{FORMAT_VERSION}: {}", self.description)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        // The graph already stores every embedding: don't ship them twice.
        let stripped;
        let references = if self.graph.is_some() {
            stripped = ReferenceSet { embeddings: Vec::new(), ..self.references.clone() };
            &stripped
        } else {
            &self.references
        };
        let wire = BundleOut {
            description: &self.description,
            model: &self.model,
            preprocess: &self.preprocess,
            class_names: &self.class_names,
            weight_type: self.weight_type,
            weights: &self.weights,
            references,
            graph: &self.graph,
            default_k: self.default_k,
            default_threshold: self.default_threshold,
            default_views: self.default_views,
            tray_threshold: self.tray_threshold,
        };
        let payload = postcard::to_allocvec(&wire).map_err(|e| Error::Bundle(format!("cannot encode: {e}")))?;
        Ok(framing::frame(MAGIC, FORMAT_VERSION, &payload))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let older = [FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4, FORMAT_V5]
            .into_iter()
            .find(|v| bytes.len() >= 12 && bytes[..8] == MAGIC[..] && bytes[8..12] == v.to_le_bytes());
        let version = older.unwrap_or(FORMAT_VERSION);
        let payload = framing::unframe(MAGIC, version, bytes).map_err(|e| {
            Error::Bundle(match e {
                FrameError::TooShort(n) => format!("file too short ({n} bytes): not a beanscan bundle"),
                FrameError::Magic => "not a beanscan bundle (wrong magic bytes)".into(),
                FrameError::Version(v) => {
                    format!("format version {v}; this beanscan reads version {FORMAT_VERSION}: re-export the bundle")
                }
                FrameError::Length { expected, actual } => {
                    format!("truncated or padded: header announces {expected} bytes, file has {actual}")
                }
                FrameError::Checksum => "checksum mismatch: the file is corrupted".into(),
            })
        })?;
        let decoded = match version {
            FORMAT_V1 => postcard::from_bytes::<BundleV1>(payload).map(|v1| Bundle::from(BundleV4::from(v1))),
            FORMAT_V5 => postcard::from_bytes::<BundleBefore<PreprocessV5>>(payload).map(Bundle::from),
            // Version 2 is version 4 without its last two fields (postcard is positional): append
            // a view count of 1, which is what its references were made with, and no tray
            // threshold (version 3 lacks only that).
            FORMAT_V2 => postcard::from_bytes::<BundleV4>(&[payload, &[1u8, 0u8]].concat()).map(Bundle::from),
            FORMAT_V3 => postcard::from_bytes::<BundleV4>(&[payload, &[0u8]].concat()).map(Bundle::from),
            FORMAT_V4 => postcard::from_bytes::<BundleV4>(payload).map(Bundle::from),
            _ => postcard::from_bytes(payload),
        };
        let mut bundle: Bundle = decoded.map_err(|e| Error::Bundle(format!("cannot decode payload: {e}")))?;
        if let Some(graph) = &bundle.graph {
            bundle.references.embeddings = restore_embeddings(graph, &bundle.references)?;
        }
        bundle.validate()?;
        Ok(bundle)
    }

    /// Semantic checks after decoding: sizes agree with each other and are small enough to build
    /// on a phone (a corrupt size must give an error, not an attempt to allocate gigabytes).
    pub fn validate(&self) -> Result<()> {
        if self.class_names.is_empty() {
            return Err(Error::Bundle("no class names".into()));
        }
        let m = &self.model;
        let encoder_fits = match m.encoder {
            EncoderKind::ResNet => {
                (1..=64).contains(&m.width) && m.groups_divide_channels() && (1..=4).contains(&m.blocks_per_stage)
            }
            EncoderKind::Lite0 { blocks } => (1..=lite0::BLOCKS + 1).contains(&usize::from(blocks)),
        };
        let fits = m.input_size.is_multiple_of(16)
            && (16..=512).contains(&m.input_size)
            && encoder_fits
            && (1..=2048).contains(&m.code_dim)
            && (1..=2048).contains(&m.embed_dim);
        if !fits {
            return Err(Error::Bundle(format!(
                "model settings out of range (input {} px, encoder {:?}, width {}, {} blocks per stage, code {}-d, \
                 embedding {}-d): the bundle is damaged or from an incompatible beanscan",
                m.input_size, m.encoder, m.width, m.blocks_per_stage, m.code_dim, m.embed_dim
            )));
        }
        if self.references.dim != self.model.embed_dim {
            return Err(Error::Bundle(format!(
                "wrong embedding size: references are {}-d but the model embeds to {}-d",
                self.references.dim, self.model.embed_dim
            )));
        }
        let p = &self.preprocess;
        if !p.mean.iter().chain(&p.std).all(|v| v.is_finite()) || p.std.iter().any(|&s| s <= 0.0) {
            return Err(Error::Bundle(format!("invalid normalisation (mean {:?}, std {:?})", p.mean, p.std)));
        }
        crate::views::check(self.default_views)
            .map_err(|_| Error::Bundle(format!("invalid view count {}", self.default_views)))?;
        if !self.default_threshold.is_finite() {
            return Err(Error::Bundle(format!("invalid default threshold {}", self.default_threshold)));
        }
        if let Some(t) = self.tray_threshold
            && !(t.is_finite() && t >= 0.0)
        {
            return Err(Error::Bundle(format!("invalid tray threshold {t}")));
        }
        if self.preprocess.input_size as usize != self.model.input_size {
            return Err(Error::Bundle(format!(
                "preprocessing makes {}px inputs but the model takes {}px",
                self.preprocess.input_size, self.model.input_size
            )));
        }
        self.references.validate(self.class_names.len()).map_err(|e| match e {
            Error::Index(m) => Error::Bundle(m),
            other => other,
        })
    }
}

/// Field-for-field twin of [`Bundle`] (postcard is positional) that borrows instead of cloning.
#[derive(Serialize)]
struct BundleOut<'a> {
    description: &'a str,
    model: &'a ModelConfig,
    preprocess: &'a PreprocessParams,
    class_names: &'a [String],
    weight_type: WeightType,
    weights: &'a [u8],
    references: &'a ReferenceSet,
    graph: &'a Option<Graph>,
    default_k: u32,
    default_threshold: f32,
    default_views: u8,
    tray_threshold: Option<f32>,
}

/// A version-4 or -5 file: the same fields, with preprocessing `P` from before the white
/// reference (4) or the plain background (5).
#[derive(Deserialize)]
struct BundleBefore<P> {
    description: String,
    model: ModelConfig,
    preprocess: P,
    class_names: Vec<String>,
    weight_type: WeightType,
    weights: Vec<u8>,
    references: ReferenceSet,
    graph: Option<Graph>,
    default_k: u32,
    default_threshold: f32,
    default_views: u8,
    tray_threshold: Option<f32>,
}

#[derive(Deserialize)]
struct PreprocessV4 {
    input_size: u32,
    mean: [f32; 3],
    std: [f32; 3],
}

type BundleV4 = BundleBefore<PreprocessV4>;

impl From<PreprocessV4> for PreprocessParams {
    fn from(p: PreprocessV4) -> Self {
        PreprocessV5 { input_size: p.input_size, mean: p.mean, std: p.std, white_reference: false }.into()
    }
}

#[derive(Deserialize)]
struct PreprocessV5 {
    input_size: u32,
    mean: [f32; 3],
    std: [f32; 3],
    white_reference: bool,
}

impl From<PreprocessV5> for PreprocessParams {
    fn from(p: PreprocessV5) -> Self {
        let PreprocessV5 { input_size, mean, std, white_reference } = p;
        PreprocessParams { input_size, mean, std, white_reference, plain_background: false }
    }
}

impl<P: Into<PreprocessParams>> From<BundleBefore<P>> for Bundle {
    fn from(b: BundleBefore<P>) -> Self {
        Bundle {
            description: b.description,
            model: b.model,
            preprocess: b.preprocess.into(),
            class_names: b.class_names,
            weight_type: b.weight_type,
            weights: b.weights,
            references: b.references,
            graph: b.graph,
            default_k: b.default_k,
            default_threshold: b.default_threshold,
            default_views: b.default_views,
            tray_threshold: b.tray_threshold,
        }
    }
}

/// A version-1 file: the same fields, with model settings from before the encoder choice.
#[derive(Deserialize)]
struct BundleV1 {
    description: String,
    model: ModelConfigV1,
    preprocess: PreprocessV4,
    class_names: Vec<String>,
    weight_type: WeightType,
    weights: Vec<u8>,
    references: ReferenceSet,
    graph: Option<Graph>,
    default_k: u32,
    default_threshold: f32,
}

#[derive(Deserialize)]
struct ModelConfigV1 {
    input_size: usize,
    width: usize,
    blocks_per_stage: usize,
    code_dim: usize,
    embed_dim: usize,
}

impl From<BundleV1> for BundleV4 {
    fn from(b: BundleV1) -> Self {
        let m = b.model;
        BundleV4 {
            description: b.description,
            model: ModelConfig {
                input_size: m.input_size,
                width: m.width,
                blocks_per_stage: m.blocks_per_stage,
                code_dim: m.code_dim,
                embed_dim: m.embed_dim,
                encoder: EncoderKind::ResNet,
            },
            preprocess: b.preprocess,
            class_names: b.class_names,
            weight_type: b.weight_type,
            weights: b.weights,
            references: b.references,
            graph: b.graph,
            default_k: b.default_k,
            default_threshold: b.default_threshold,
            default_views: 1,
            tray_threshold: None,
        }
    }
}

fn restore_embeddings(graph: &Graph, refs: &ReferenceSet) -> Result<Vec<f32>> {
    // Allocate only what the graph really holds: the reference count and dimension come from
    // the file and could otherwise ask for terabytes (found by fuzzing).
    let present: usize = graph.iter().map(|(_, point)| point.0.len()).sum();
    let wanted = refs.len().checked_mul(refs.dim);
    if wanted != Some(present) {
        return Err(Error::Bundle(format!(
            "wrong embedding size: {} references of {} values need {} values, the index holds {present}",
            refs.len(),
            refs.dim,
            wanted.map_or("more than addressable".to_string(), |w| w.to_string())
        )));
    }
    let mut out = vec![0.0f32; present];
    let mut seen = 0usize;
    for (pid, point) in graph.iter() {
        let row = *graph
            .values
            .get(pid.into_inner() as usize)
            .ok_or_else(|| Error::Bundle("index refers to a missing reference".into()))? as usize;
        if row >= refs.len() {
            return Err(Error::Bundle(format!("index refers to reference {row} of {}", refs.len())));
        }
        if point.0.len() != refs.dim {
            return Err(Error::Bundle(format!(
                "wrong embedding size: the index holds {}-d embeddings, the references are {}-d",
                point.0.len(),
                refs.dim
            )));
        }
        out[row * refs.dim..(row + 1) * refs.dim].copy_from_slice(&point.0);
        seen += 1;
    }
    if seen != refs.len() {
        return Err(Error::Bundle(format!("index holds {seen} points for {} references", refs.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::HEADER_LEN;

    fn message(bytes: &[u8]) -> String {
        match Bundle::from_bytes(bytes) {
            Ok(_) => panic!("corrupted bundle was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn embedded_bundle_round_trips_byte_for_byte() {
        let bundle = Bundle::embedded().expect("the built-in bundle loads");
        assert_eq!(bundle.to_bytes().unwrap(), DEFAULT_BUNDLE);
        assert!(!bundle.references.is_empty());
    }

    #[test]
    fn corruption_is_caught_with_a_clear_message() {
        let good = DEFAULT_BUNDLE.to_vec();
        assert!(message(&good[..10]).contains("too short"));
        assert!(message(b"").contains("too short"));
        // Cut anywhere after the header, or padded: the announced length disagrees.
        for cut in (HEADER_LEN + 4..good.len()).step_by(good.len() / 13) {
            assert!(message(&good[..cut]).contains("truncated"), "cut at {cut}");
        }
        let mut padded = good.clone();
        padded.push(0);
        assert!(message(&padded).contains("truncated or padded"));
        // A flipped bit anywhere in the payload or the checksum is caught by the checksum.
        for at in (HEADER_LEN..good.len()).step_by(good.len() / 17).chain([good.len() - 1]) {
            let mut flipped = good.clone();
            flipped[at] ^= 0x10;
            assert!(message(&flipped).contains("checksum"), "flip at {at}");
        }
        let mut long = good.clone();
        long[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(message(&long).contains("truncated"));
        let mut wrong_magic = good.clone();
        wrong_magic[0] = b'X';
        assert!(message(&wrong_magic).contains("magic"));
        let mut newer = good.clone();
        newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert!(message(&newer).contains("format version 7; this beanscan reads version 6"));
    }

    /// A well-formed file (valid checksum) whose contents disagree with each other.
    fn reencoded(edit: impl FnOnce(&mut Bundle)) -> String {
        let mut bundle = Bundle::embedded().unwrap();
        edit(&mut bundle);
        message(&bundle.to_bytes().unwrap())
    }

    #[test]
    fn inconsistent_contents_are_rejected() {
        let m = reencoded(|b| b.model.embed_dim += 1);
        assert!(m.contains("wrong embedding size") && m.contains("128-d"), "{m}");
        let m = reencoded(|b| {
            b.references.dim = 64;
            b.model.embed_dim = 64;
        });
        assert!(m.contains("wrong embedding size"), "{m}");
        // Found by fuzzing: a huge dimension in the file used to be allocated before any check.
        let m = reencoded(|b| b.references.dim = 1 << 40);
        assert!(m.contains("wrong embedding size"), "{m}");
        let m = reencoded(|b| b.references.dim = usize::MAX / 2);
        assert!(m.contains("more than addressable"), "{m}");
        let m = reencoded(|b| b.class_names.truncate(2));
        assert!(m.contains("only 2 classes"), "{m}");
        let m = reencoded(|b| b.class_names.clear());
        assert!(m.contains("no class names"), "{m}");
        let size = Bundle::embedded().unwrap().model.input_size;
        let m = reencoded(|b| b.preprocess.input_size = 32);
        assert!(m.contains(&format!("32px inputs but the model takes {size}px")), "{m}");
        // Absurd sizes are refused before anything is built from them.
        let m = reencoded(|b| {
            b.model.encoder = EncoderKind::ResNet;
            b.model.width = 1 << 20;
        });
        assert!(m.contains("model settings out of range"), "{m}");
        let m = reencoded(|b| b.model.encoder = EncoderKind::Lite0 { blocks: 40 });
        assert!(m.contains("model settings out of range"), "{m}");
        // Found by fuzzing: a width whose channels do not split into normalisation groups
        // used to panic while building the model.
        let m = reencoded(|b| {
            b.model.encoder = EncoderKind::ResNet;
            b.model.width = 17;
        });
        assert!(m.contains("model settings out of range"), "{m}");
        let m = reencoded(|b| b.preprocess.std = [0.0; 3]);
        assert!(m.contains("invalid normalisation"), "{m}");
        let m = reencoded(|b| {
            b.graph = None;
            b.references.labels.pop();
        });
        assert!(m.contains("inconsistent reference set"), "{m}");
    }

    /// A version-1 file (written before the encoder choice existed) is still read, as a
    /// ResNet-like encoder bundle that classifies.
    #[test]
    #[cfg(not(target_arch = "wasm32"))] // blocks on the embedding with pollster (native only)
    fn version_1_bundles_still_load() {
        #[derive(Serialize)]
        struct ModelV1 {
            input_size: usize,
            width: usize,
            blocks_per_stage: usize,
            code_dim: usize,
            embed_dim: usize,
        }
        let config =
            ModelConfig { input_size: 32, width: 8, blocks_per_stage: 1, code_dim: 16, embed_dim: 8, ..ModelConfig::default() };
        let device = burn::tensor::Device::flex();
        let weights = crate::quant::to_int8_bytes(&crate::model::Embedder::new(&config, &device)).unwrap();
        let mut references = ReferenceSet::new(8);
        references.push(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 0, "a".into()).unwrap();
        references.push(&[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1, "b".into()).unwrap();
        let model = ModelV1 { input_size: 32, width: 8, blocks_per_stage: 1, code_dim: 16, embed_dim: 8 };
        let class_names = vec!["Normal".to_string(), "Black".to_string()];
        let graph: Option<Graph> = None;
        let payload = postcard::to_allocvec(&(
            "old",
            &model,
            (32u32, [0.45f32, 0.42, 0.38], [0.25f32, 0.24, 0.23]),
            &class_names,
            WeightType::Int8,
            &weights,
            &references,
            &graph,
            5u32,
            1.0f32,
        ))
        .unwrap();
        let bundle = Bundle::from_bytes(&framing::frame(MAGIC, 1, &payload)).expect("a v1 bundle loads");
        assert_eq!(bundle.model, config);
        assert_eq!(bundle.model.encoder, EncoderKind::ResNet);
        let classifier = crate::Classifier::new(bundle, device).unwrap();
        let photo = image::RgbImage::from_pixel(40, 40, image::Rgb([180, 120, 60]));
        let input = crate::preprocess::image_to_input(&photo, &classifier.preprocess);
        let embedding = pollster::block_on(classifier.embed_inputs(&[input])).unwrap().remove(0);
        assert!(classifier.label(&embedding).is_ok());
    }

    /// The payload an older file would hold for `b`: every field in order, the preprocessing as
    /// `preprocess` gives it (postcard writes a struct as the tuple of its fields).
    fn older_payload(b: &Bundle, preprocess: impl Serialize) -> Vec<u8> {
        let references = ReferenceSet { embeddings: Vec::new(), ..b.references.clone() };
        postcard::to_allocvec(&(
            &b.description,
            &b.model,
            preprocess,
            &b.class_names,
            b.weight_type,
            &b.weights,
            if b.graph.is_some() { &references } else { &b.references },
            &b.graph,
            b.default_k,
            b.default_threshold,
            b.default_views,
            b.tray_threshold,
        ))
        .unwrap()
    }

    /// A version-5 file (before the plain background) loads without one, its white reference kept.
    /// A version-4 file (before the white reference) loads without one. A version-3 file (before
    /// the tray threshold) loads with none: tray beans use the one threshold it has. A version-2
    /// file (before the view count) loads with one view: its references were made so.
    #[test]
    fn version_2_to_5_bundles_still_load() {
        let mut bundle = Bundle::embedded().unwrap();
        bundle.default_views = 1;
        bundle.tray_threshold = None;
        bundle.preprocess.white_reference = true;
        bundle.preprocess.plain_background = false;
        let p = bundle.preprocess.clone();
        let v5 = older_payload(&bundle, (p.input_size, p.mean, p.std, true));
        let read = Bundle::from_bytes(&framing::frame(MAGIC, 5, &v5)).expect("a v5 bundle loads");
        assert!(read.preprocess.white_reference && !read.preprocess.plain_background);
        assert_eq!(read.to_bytes().unwrap(), bundle.to_bytes().unwrap());
        bundle.preprocess.white_reference = false;
        let current = bundle.to_bytes().unwrap();
        let payload = older_payload(&bundle, (p.input_size, p.mean, p.std));
        assert_eq!(&payload[payload.len() - 2..], &[1, 0], "the view count, then no tray threshold, end the payload");
        let read = Bundle::from_bytes(&framing::frame(MAGIC, 4, &payload)).expect("a v4 bundle loads");
        assert!(!read.preprocess.white_reference);
        assert_eq!(read.to_bytes().unwrap(), current);
        let v3 = framing::frame(MAGIC, 3, &payload[..payload.len() - 1]);
        let read = Bundle::from_bytes(&v3).expect("a v3 bundle loads");
        assert_eq!((read.tray_threshold, read.tray_threshold()), (None, read.default_threshold));
        assert_eq!(read.to_bytes().unwrap(), current);
        let v2 = framing::frame(MAGIC, 2, &payload[..payload.len() - 2]);
        let read = Bundle::from_bytes(&v2).expect("a v2 bundle loads");
        assert_eq!(read.default_views, 1);
        assert_eq!(read.to_bytes().unwrap(), current);
        assert!(reencoded(|b| b.default_views = 3).contains("invalid view count 3"));
    }

    #[test]
    fn a_white_reference_and_a_plain_background_are_kept() {
        let mut bundle = Bundle::embedded().unwrap();
        bundle.preprocess.white_reference = true;
        bundle.preprocess.plain_background = true;
        let read = Bundle::from_bytes(&bundle.to_bytes().unwrap()).unwrap();
        assert!(read.preprocess.white_reference && read.preprocess.plain_background);
    }

    #[test]
    fn a_tray_threshold_is_kept_and_checked() {
        let mut bundle = Bundle::embedded().unwrap();
        bundle.tray_threshold = Some(0.61);
        let read = Bundle::from_bytes(&bundle.to_bytes().unwrap()).unwrap();
        assert_eq!((read.tray_threshold, read.tray_threshold()), (Some(0.61), 0.61));
        assert!(reencoded(|b| b.tray_threshold = Some(f32::NAN)).contains("invalid tray threshold NaN"));
        assert!(reencoded(|b| b.tray_threshold = Some(-1.0)).contains("invalid tray threshold -1"));
    }

    #[test]
    fn weights_that_do_not_fit_the_model_are_an_error() {
        let mut bundle = Bundle::embedded().unwrap();
        bundle.model.encoder = EncoderKind::ResNet;
        bundle.model.width = 8;
        let bundle = Bundle::from_bytes(&bundle.to_bytes().unwrap()).unwrap();
        let err = crate::Classifier::new(bundle, burn::tensor::Device::flex()).err().expect("rejected");
        assert!(err.to_string().contains("weights do not fit the model"), "{err}");
        let mut bundle = Bundle::embedded().unwrap();
        bundle.weights.truncate(bundle.weights.len() / 2);
        let err = crate::Classifier::new(bundle, burn::tensor::Device::flex()).err().expect("rejected");
        assert!(err.to_string().contains("weights"), "{err}");
    }
}
