//! Photo → label: preprocessing, the embedder on a burn device, and the kNN vote over the index.
//! The one type the CLI and the browser API both wrap.

use std::cell::{Cell, OnceCell};
use std::collections::HashMap;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use serde::Serialize;

use crate::bundle::{Bundle, WeightType};
use crate::defect_head::DefectHead;
use crate::error::{Error, Result};
use crate::gate::Gate;
use crate::index::{self, Index};
use crate::library::{self, SharedHit, SharedReference};
use crate::model::{ModelConfig, Net};
use crate::preprocess::{self, PreprocessParams};
use crate::quant;
use crate::references::{self, ReferencesFile};
use crate::traits::TRAITS;
use crate::views;

/// A labelled photo, as shown to the user.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub label: String,
    /// The share of the k votes won by `label`; once the Normal-vs-defect gate decides
    /// ([`crate::gate`]), its probability of the side taken, times that share among the defect
    /// voters for a defect.
    pub confidence: f32,
    pub distance: f32,
    pub unknown: bool,
    pub neighbours: Vec<NeighbourInfo>,
    /// The gate's probability that the bean is Normal, when a gate decided ([`Classifier::gate`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normal_probability: Option<f32>,
    /// The defect head's probability for the defect it named, when it named one
    /// ([`Classifier::defect_head`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defect_probability: Option<f32>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NeighbourInfo {
    pub label: String,
    pub distance: f32,
    pub id: String,
    /// A reference added at run time (not one of the bundle's).
    pub added: bool,
    /// Another grader's reference, from the shared library.
    pub shared: bool,
}

/// The class the gate tells from every defect.
pub const NORMAL: &str = "Normal";

/// Views per tray bean unless set: a 245-bean tray at 8 views would take 8× as long.
pub const TRAY_VIEWS: u8 = 1;

pub struct Classifier {
    device: Device,
    model: Net,
    pub model_config: ModelConfig,
    pub preprocess: PreprocessParams,
    pub class_names: Vec<String>,
    pub index: Index,
    pub k: usize,
    /// Distance beyond which a single-bean photo is unknown.
    pub threshold: f32,
    /// The same for a bean of a tray photo ([`Bundle::tray_threshold`]).
    pub tray_threshold: f32,
    /// How far apart the references confirmed at run time lie ([`index::spread`]), measured at
    /// the first vote after they change (a pull adds them page by page): their unknown bound is
    /// at least this. Every method that changes them forgets it.
    confirmed_spread: Cell<Option<f32>>,
    /// The Normal-vs-defect gate ([`Self::gate`]) with all references voting and with one's own
    /// only (`added_only` is also set directly), each fitted at the first vote after the
    /// references change; None until this device's confirmed references hold both sides.
    gate: [OnceCell<Option<Gate>>; 2],
    /// The head that names a defect ([`Self::defect_head`]), the same way: None until this
    /// device's confirmed references hold two kinds of defect.
    defect_head: [OnceCell<Option<DefectHead>>; 2],
    /// The traits ([`crate::traits`]) of this device's own references that came with theirs, by id.
    own_traits: HashMap<String, Vec<f32>>,
    /// Vote among the references added at run time only, not the bundle's: a warehouse's own
    /// beans, shot on its own camera, outvote references taken elsewhere (results.md, "Tray photos").
    pub added_only: bool,
    /// Flips/turns a photo's embedding averages over ([`views`]); the bundle's default.
    views: u8,
    /// The same for the beans of a tray: one by default, as a tray has hundreds of beans.
    tray_views: u8,
    pub version: String,
    /// Which model made the embeddings ([`references::model_id`]): references carry it.
    pub model_id: String,
}

/// Loads the bundle's weights into a freshly built net of its architecture on `device`. Weights
/// are applied on the CPU and then moved: applying them on WebGPU would need a synchronous read,
/// which it forbids.
pub fn load_embedder(config: &ModelConfig, weight_type: WeightType, weights: &[u8], device: &Device) -> Result<Net> {
    let cpu = Device::flex();
    let model = match Net::new(config, &cpu) {
        Net::ResNet(m) => Net::ResNet(Box::new(load_weights(*m, weight_type, weights, &cpu)?)),
        Net::Lite0(m) => Net::Lite0(Box::new(load_weights(*m, weight_type, weights, &cpu)?)),
    };
    Ok(if *device == cpu { model } else { model.to_device(device) })
}

fn load_weights<M: Module>(fresh: M, weight_type: WeightType, weights: &[u8], cpu: &Device) -> Result<M> {
    if weight_type == WeightType::Int8 {
        return quant::fill_int8(fresh, weights, cpu);
    }
    // f16 bundles are widened to the model's f32 on load.
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|e| Error::Model(format!("cannot read weights: {e}")))?
        .cast_to_module_dtype();
    fresh.try_load_record(record).map_err(|e| Error::Model(format!("weights do not fit the model: {e}")))
}

impl Classifier {
    pub fn new(bundle: Bundle, device: Device) -> Result<Self> {
        let model = load_embedder(&bundle.model, bundle.weight_type, &bundle.weights, &device)?;
        let tray_threshold = bundle.tray_threshold();
        Ok(Self {
            model_id: references::model_id(&bundle.weights),
            version: bundle.version_string(),
            device,
            model,
            model_config: bundle.model,
            preprocess: bundle.preprocess,
            class_names: bundle.class_names,
            index: Index::new(bundle.references, bundle.graph),
            k: bundle.default_k.max(1) as usize,
            threshold: bundle.default_threshold,
            tray_threshold,
            confirmed_spread: Cell::new(None),
            gate: Default::default(),
            defect_head: Default::default(),
            own_traits: HashMap::new(),
            added_only: false,
            views: bundle.default_views,
            tray_views: TRAY_VIEWS,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn views(&self) -> u8 {
        self.views
    }

    /// Sets how many flips/turns of each photo are averaged (1, 2, 4 or 8): N passes through
    /// the network per photo. Embeddings made with other counts stay comparable, only noisier.
    pub fn set_views(&mut self, views: u8) -> Result<()> {
        self.views = views::check(views)?;
        Ok(())
    }

    pub fn tray_views(&self) -> u8 {
        self.tray_views
    }

    /// [`Self::set_views`] for the beans of tray photos.
    pub fn set_tray_views(&mut self, views: u8) -> Result<()> {
        self.tray_views = views::check(views)?;
        Ok(())
    }

    /// Swaps in another bundle on the same device; on any error the current one stays. References
    /// added at run time move over only when the new bundle has the same model (same weights):
    /// another model's embeddings would be compared with the wrong ones.
    pub fn replace_bundle(&mut self, bundle: Bundle) -> Result<()> {
        let mut next = Self::new(bundle, self.device.clone())?;
        if next.model_id == self.model_id && !self.index.added.is_empty() {
            let _ = next.import_references(&self.export_references()?);
        }
        next.added_only = self.added_only && !next.index.added.is_empty();
        if next.model_id == self.model_id {
            next.index.shared = std::mem::take(&mut self.index.shared);
        }
        next.references_changed();
        *self = next;
        Ok(())
    }

    /// A bean as this module hands it out ([`Self::embed_photo`]): its embedding, then its
    /// traits; or its embedding alone.
    pub fn split_bean<'a>(&self, bean: &'a [f32]) -> Result<(&'a [f32], Option<&'a [f32]>)> {
        let dim = self.model_config.embed_dim;
        let (embedding, traits) = match bean.len() {
            n if n == dim => (bean, None),
            n if n == dim + TRAITS => (&bean[..dim], Some(&bean[dim..])),
            n => {
                return Err(Error::Index(format!(
                    "the embedding has {n} values; this model makes {dim} ({} with the bean's traits)",
                    dim + TRAITS
                )));
            }
        };
        if traits.is_some_and(|t| t.iter().any(|v| !v.is_finite())) {
            return Err(Error::Index("the bean's traits hold a value that is not a finite number".into()));
        }
        Ok((embedding, traits))
    }

    /// Adds a reference bean (a bean of this model, [`Self::split_bean`]) under a class name;
    /// returns its id. The embedding is L2-normalised like the model's own.
    pub fn add_reference(&mut self, bean: &[f32], label: &str) -> Result<String> {
        let class = self.class_index(label)?;
        let (embedding, traits) = self.split_bean(bean)?;
        let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(Error::Index("the embedding is zero or not finite".into()));
        }
        let unit: Vec<f32> = embedding.iter().map(|v| v / norm).collect();
        // Named after its contents: the same bean under the same label added twice (here or on
        // another phone) is one reference, and imports from elsewhere do not collide.
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(label.as_bytes());
        unit.iter().for_each(|v| hasher.update(&v.to_le_bytes()));
        let id = format!("user-{:08x}", hasher.finalize());
        self.index.added.remove(&id);
        self.index.added.push(&unit, class, id.clone())?;
        self.keep_traits(&id, traits);
        self.references_changed();
        Ok(id)
    }

    /// Adds a bean ([`Self::split_bean`]) to this device's references as it is, under class
    /// number `class` and `id`: for studies that draw many, then call [`Self::references_changed`].
    pub fn push_reference(&mut self, bean: &[f32], class: u16, id: String) -> Result<()> {
        let (embedding, traits) = self.split_bean(bean)?;
        self.index.added.push(embedding, class, id.clone())?;
        self.keep_traits(&id, traits);
        Ok(())
    }

    /// Keeps the traits an own reference came with, or forgets those of an earlier one by its id.
    fn keep_traits(&mut self, id: &str, traits: Option<&[f32]>) {
        match traits {
            Some(t) => self.own_traits.insert(id.to_string(), t.to_vec()),
            None => self.own_traits.remove(id),
        };
    }

    /// Votes among the added references only, or among all; refused while none is added.
    pub fn set_added_only(&mut self, on: bool) -> Result<()> {
        if on && !self.index.has_added() {
            return Err(Error::Index("no reference beans of your own yet: add some before voting among them only".into()));
        }
        self.added_only = on;
        Ok(())
    }

    /// Removes an added reference; false when there is none with this id.
    pub fn remove_reference(&mut self, id: &str) -> bool {
        let removed = self.index.added.remove(id) > 0;
        self.own_traits.remove(id);
        self.references_changed();
        // With none left there is nothing of one's own to vote among: all references vote again.
        self.added_only &= self.index.has_added();
        removed
    }

    /// The added references as a [`ReferencesFile`].
    pub fn export_references(&self) -> Result<Vec<u8>> {
        ReferencesFile {
            model_id: self.model_id.clone(),
            class_names: self.class_names.clone(),
            traits: self.index.added.ids.iter().map(|id| self.own_traits.get(id).cloned().unwrap_or_default()).collect(),
            references: self.index.added.clone(),
        }
        .to_bytes()
    }

    /// Adds the references of a [`ReferencesFile`] (one with the same id replaces the current
    /// one); returns how many it held. A file that does not fit changes nothing.
    pub fn import_references(&mut self, bytes: &[u8]) -> Result<usize> {
        let file = ReferencesFile::from_bytes(bytes)?;
        let traits = file.traits.clone();
        let refs = file.fit(&self.model_id, self.model_config.embed_dim, &self.class_names)?;
        for i in 0..refs.len() {
            self.index.added.remove(&refs.ids[i]);
            self.index.added.push(refs.row(i), refs.labels[i], refs.ids[i].clone())?;
            self.keep_traits(&refs.ids[i], traits.get(i).filter(|t| t.len() == TRAITS).map(Vec::as_slice));
        }
        self.references_changed();
        Ok(refs.len())
    }

    /// What a shared library's answers must match to be taken: this model, its size, its classes.
    pub fn library_expect(&self) -> library::Expect<'_> {
        library::Expect { model_id: &self.model_id, dim: self.model_config.embed_dim, class_names: &self.class_names }
    }

    /// Takes references pulled from the shared library (checked by [`library::parse_scroll`]):
    /// each replaces the point of the same id, a tombstone removes it, and one that is already
    /// among this device's own references (same bean, same label) is left out rather than
    /// counted twice. Returns how many shared references vote now.
    pub fn apply_shared(&mut self, references: &[SharedReference]) -> Result<usize> {
        for r in references {
            if r.model_id != self.model_id || r.embedding.len() != self.model_config.embed_dim {
                return Err(Error::Library(format!("reference {} was made with another model", r.ref_id)));
            }
            self.class_index(&r.label)?;
        }
        for r in references {
            let id = r.point_id();
            self.index.shared.remove(&id);
            if !r.deleted && !self.index.added.ids.contains(&r.ref_id) {
                self.index.shared.push(&r.embedding, self.class_index(&r.label)?, id)?;
            }
        }
        self.added_only &= self.index.has_added();
        self.references_changed();
        Ok(self.index.shared.len())
    }

    /// Drops every shared reference (the library was switched off or changed).
    pub fn clear_shared(&mut self) {
        self.index.shared = index::ReferenceSet::new(self.model_config.embed_dim);
        self.added_only &= self.index.has_added();
        self.references_changed();
    }

    /// Forgets the confirmed references' spread, to be measured at the next vote; for whoever
    /// changes `index.added` or `index.shared` directly.
    pub fn references_changed(&mut self) {
        self.confirmed_spread.set(None);
        self.gate = Default::default();
        self.defect_head = Default::default();
    }

    /// The Normal-vs-defect gate ([`crate::gate`]), once this device's own confirmed references
    /// hold a Normal bean and a defect: fitted on them and (unless voting among one's own only)
    /// the bundle's. The shared library's are left out: another grader's camera may not be this
    /// one, and a library searched on its server ([`Self::label_with_shared_hits`]) could not
    /// take part, so both ways of using it get the same gate.
    pub fn gate(&self) -> Option<&Gate> {
        self.gate[usize::from(self.added_only)]
            .get_or_init(|| {
                let normal = self.normal_class()?;
                let own = &self.index.added;
                if !(own.labels.contains(&normal) && own.labels.iter().any(|&l| l != normal)) {
                    return None;
                }
                let (rows, labels, weight) = self.fitting_references(|_| true);
                let is_normal: Vec<bool> = labels.iter().map(|&l| l == normal).collect();
                Gate::fit(&rows, &is_normal, &weight)
            })
            .as_ref()
    }

    /// The head that names a defect ([`crate::defect_head`]), once this device's own confirmed
    /// references hold two kinds of defect: fitted on the defect references the gate fits on.
    pub fn defect_head(&self) -> Option<&DefectHead> {
        self.defect_head[usize::from(self.added_only)]
            .get_or_init(|| {
                let normal = self.normal_class();
                let mut kinds: Vec<u16> = self.index.added.labels.iter().copied().filter(|&l| Some(l) != normal).collect();
                kinds.sort_unstable();
                kinds.dedup();
                if kinds.len() < 2 {
                    return None;
                }
                let (rows, labels, weight) = self.fitting_references(|l| Some(l) != normal);
                let traits = self.fitting_traits(|l| Some(l) != normal);
                DefectHead::fit_with_traits(&rows, &traits, &labels, &weight)
            })
            .as_ref()
    }

    /// The references the gate and the defect head fit on, those of the classes `keep` takes:
    /// this device's own, each counting [`crate::gate::CONFIRMED_WEIGHT`] times, and (unless
    /// voting among one's own only) the bundle's, each once. Rows, labels, weights.
    fn fitting_references(&self, keep: impl Fn(u16) -> bool) -> (Vec<&[f32]>, Vec<u16>, Vec<f64>) {
        let mut sets = vec![(&self.index.added, crate::gate::CONFIRMED_WEIGHT)];
        if !self.added_only {
            sets.push((&self.index.bundled, 1.0));
        }
        let (mut rows, mut labels, mut weight) = (Vec::new(), Vec::new(), Vec::new());
        for (set, w) in sets {
            for (i, &label) in set.labels.iter().enumerate().filter(|&(_, &l)| keep(l)) {
                rows.push(set.row(i));
                labels.push(label);
                weight.push(w);
            }
        }
        (rows, labels, weight)
    }

    /// The traits of [`Self::fitting_references`]' rows, in their order: this device's own where
    /// they came with them, None for the bundle's.
    fn fitting_traits(&self, keep: impl Fn(u16) -> bool) -> Vec<Option<&[f32]>> {
        let own = &self.index.added;
        let mut traits: Vec<Option<&[f32]>> = (0..own.len())
            .filter(|&i| keep(own.labels[i]))
            .map(|i| self.own_traits.get(&own.ids[i]).map(Vec::as_slice))
            .collect();
        if !self.added_only {
            traits.extend(self.index.bundled.labels.iter().filter(|&&l| keep(l)).map(|_| None));
        }
        traits
    }

    fn normal_class(&self) -> Option<u16> {
        self.class_index(NORMAL).ok()
    }

    /// How far apart the references confirmed at run time lie ([`index::spread`]).
    pub fn confirmed_spread(&self) -> f32 {
        if let Some(spread) = self.confirmed_spread.get() {
            return spread;
        }
        let spread = index::spread(&[&self.index.added, &self.index.shared]);
        self.confirmed_spread.set(Some(spread));
        spread
    }

    /// The unknown bounds at this threshold ([`index::Bounds`]).
    fn bounds(&self, threshold: f32) -> index::Bounds {
        index::Bounds { bundled: threshold, confirmed: threshold.max(self.confirmed_spread()) }
    }

    fn class_index(&self, label: &str) -> Result<u16> {
        self.class_names
            .iter()
            .position(|c| c == label)
            .map(|i| i as u16)
            .ok_or_else(|| Error::Index(format!("unknown class \"{label}\"; this model knows {}", self.class_names.join(", "))))
    }

    /// Photo bytes → model input (decode errors name the problem).
    pub fn input(&self, photo: &[u8]) -> Result<Vec<f32>> {
        preprocess::photo_to_input(photo, &self.preprocess)
    }

    /// Model inputs → L2-normalised embeddings, one per input. Reads back asynchronously, which
    /// WebGPU requires; natively the future is ready at once.
    pub async fn embed_inputs(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let values = self.embed_flat(inputs.iter().flatten().copied().collect()).await?;
        Ok(values.chunks(self.model_config.embed_dim).map(<[f32]>::to_vec).collect())
    }

    /// [`Self::embed_inputs`] on inputs laid end to end (`n × 3 × size × size` values):
    /// `n × dim` values, without splitting them into rows first.
    pub async fn embed_flat(&self, inputs: Vec<f32>) -> Result<Vec<f32>> {
        self.embed_flat_views(inputs, self.views).await
    }

    /// Tray beans laid end to end (as a tray job hands them over), with the tray view count.
    pub async fn embed_tray_beans(&self, inputs: Vec<f32>) -> Result<Vec<f32>> {
        self.embed_flat_views(inputs, self.tray_views).await
    }

    async fn embed_flat_views(&self, inputs: Vec<f32>, views: u8) -> Result<Vec<f32>> {
        let size = self.preprocess.input_size as usize;
        let per_input = 3 * size * size;
        if !inputs.len().is_multiple_of(per_input) {
            return Err(Error::Model(format!("{} values are not whole {size}×{size} model inputs", inputs.len())));
        }
        let n = inputs.len() / per_input;
        if n == 0 {
            return Ok(Vec::new());
        }
        let x = Tensor::<4>::from_data(TensorData::new(inputs, [n, 3, size, size]), &self.device);
        let data = views::mean(self.model.forward(views::stack(x, views)), views)
            .into_data_async()
            .await
            .map_err(|e| Error::Model(format!("reading the embedding back failed: {e:?}")))?;
        data.try_to_vec::<f32>().map_err(|e| Error::Model(format!("unexpected embedding data: {e:?}")))
    }

    /// Photo bytes → model input and the bean's traits ([`crate::traits`]), from one decoding.
    pub fn bean_input(&self, photo: &[u8]) -> Result<(Vec<f32>, [f32; TRAITS])> {
        Ok(preprocess::image_to_bean(&preprocess::decode(photo)?, &self.preprocess))
    }

    /// A single-bean photo as a bean ([`Self::split_bean`]): its embedding, then its traits.
    pub async fn embed_photo(&self, photo: &[u8]) -> Result<Vec<f32>> {
        let (input, traits) = self.bean_input(photo)?;
        self.bean(input, traits).await
    }

    /// [`Self::embed_photo`] of pixels the browser decoded (8-bit RGBA, upright).
    pub async fn embed_pixels(&self, rgba: &[u8], width: u32, height: u32) -> Result<Vec<f32>> {
        let image = preprocess::rgba_to_image(rgba, width, height)?;
        let (input, traits) = preprocess::image_to_bean(&image, &self.preprocess);
        self.bean(input, traits).await
    }

    async fn bean(&self, input: Vec<f32>, traits: [f32; TRAITS]) -> Result<Vec<f32>> {
        let mut bean = self.embed_inputs(&[input]).await?.remove(0);
        bean.extend(traits);
        Ok(bean)
    }

    /// kNN vote for one single-bean photo (its bean, [`Self::split_bean`]) with the current k
    /// and threshold.
    pub fn label(&self, bean: &[f32]) -> Result<Prediction> {
        self.label_within(bean, self.threshold)
    }

    /// Whether beans with these nearest-reference distances look like a camera or light new to
    /// beanscan ([`crate::notice`]); the bound is the single-bean threshold for tray beans too.
    pub fn unfamiliar(&self, distances: &[f32]) -> bool {
        crate::notice::unfamiliar(distances, self.threshold)
    }

    /// [`Self::label`] for a bean of a tray photo: unknown beyond the tray threshold.
    pub fn label_tray_bean(&self, bean: &[f32]) -> Result<Prediction> {
        self.label_within(bean, self.tray_threshold)
    }

    fn label_within(&self, bean: &[f32], threshold: f32) -> Result<Prediction> {
        let (embedding, traits) = self.split_bean(bean)?;
        if self.added_only && !self.index.has_added() {
            return Err(Error::Index("no references of your own to vote among: add some, or vote among all references".into()));
        }
        let search = |k| if self.added_only { self.index.search_added(embedding, k) } else { self.index.search(embedding, k) };
        self.predict((embedding, traits), &search(self.k), self.bounds(threshold), search)
    }

    /// [`Self::label`] (`tray`: [`Self::label_tray_bean`]) with the shared library's nearest
    /// references as the server found them ([`library::parse_search_batch`]) in place of the
    /// shared references kept here: for a library too large to keep on a phone
    /// ([`library::LOCAL_MAX`]). Same vote, same threshold, same gate; a hit that is one of this
    /// device's own references is not counted twice. Where the gate overrules a Normal vote, the
    /// defect is named from the server's hits and the references kept here only.
    pub fn label_with_shared_hits(&self, bean: &[f32], remote: &[SharedHit], tray: bool) -> Result<Prediction> {
        let (embedding, traits) = self.split_bean(bean)?;
        let mut shared = Vec::new();
        for h in remote.iter().filter(|h| !self.index.added.ids.contains(&h.ref_id)) {
            let label = self.class_index(&h.label)?;
            shared.push(index::Hit { label, id: &h.point_id, distance: h.distance, added: true, shared: true });
        }
        let search = |k| {
            let mut hits = self.index.search_own(embedding, k);
            if !self.added_only {
                hits.extend(self.index.search_bundled(embedding, k));
            }
            hits.extend(shared.iter().cloned());
            index::nearest(hits, k)
        };
        let hits = search(self.k);
        if self.added_only && hits.is_empty() {
            return Err(Error::Index("no references of your own or of the shared library near this bean to vote among".into()));
        }
        self.predict((embedding, traits), &hits, self.bounds(if tray { self.tray_threshold } else { self.threshold }), search)
    }

    /// The vote of `hits` (nearest first) as shown to the user. Once there is a gate, it decides
    /// Normal vs defect; a defect is named by the defect head once there is one, else by the vote
    /// ([`Self::name_defect`]; `search(n)`: the n nearest references the vote may use). Unknown
    /// stays the vote's: far from every reference is far whatever the gate says.
    fn predict<'a>(
        &'a self,
        (embedding, traits): (&[f32], Option<&[f32]>),
        hits: &[index::Hit],
        bounds: index::Bounds,
        search: impl Fn(usize) -> Vec<index::Hit<'a>>,
    ) -> Result<Prediction> {
        let vote = index::vote(hits, bounds).ok_or_else(|| Error::Index("no reference beans to compare with".into()))?;
        let normal = self.normal_class();
        // Normal or defect: the gate's side once there is a gate, else the vote's.
        let normal_probability = self.gate().map(|g| g.normal_probability(embedding));
        let is_normal = normal.is_some() && normal_probability.map_or(Some(vote.label) == normal, |p| p >= 0.5);
        let (label, confidence, defect_probability) = match (is_normal, normal_probability) {
            (true, Some(p)) => (normal.unwrap_or(vote.label), p, None),
            (true, None) => (vote.label, vote.confidence, None),
            (false, _) => self.name_defect((embedding, traits), hits, &vote, normal_probability, &search, bounds),
        };
        let name = |l: u16| self.class_names.get(usize::from(l)).cloned().unwrap_or_else(|| format!("class {l}"));
        Ok(Prediction {
            label: name(label),
            confidence,
            normal_probability,
            defect_probability,
            distance: vote.distance,
            unknown: vote.unknown,
            neighbours: hits
                .iter()
                .map(|h| NeighbourInfo {
                    label: name(h.label),
                    distance: h.distance,
                    id: h.id.to_string(),
                    added: h.added,
                    shared: h.shared,
                })
                .collect(),
        })
    }

    /// A bean on the defect side: its defect, how sure that is, and the head's probability if
    /// the head named it. The head's probability times the side's (the gate's, else the share of
    /// defect voters); without a head, the vote's defect, or the vote of the nearest defect
    /// references where the gate overrules a Normal vote ([`Self::defect_vote`]).
    fn name_defect<'a>(
        &'a self,
        (embedding, traits): (&[f32], Option<&[f32]>),
        hits: &[index::Hit],
        vote: &index::Vote,
        normal_probability: Option<f32>,
        search: &impl Fn(usize) -> Vec<index::Hit<'a>>,
        bounds: index::Bounds,
    ) -> (u16, f32, Option<f32>) {
        let normal = self.normal_class();
        let side = normal_probability.map_or_else(|| defect_share(hits, normal), |p| 1.0 - p);
        if let Some(head) = self.defect_head() {
            let (class, probability) = head.name_bean(embedding, traits);
            return (class, side * probability, Some(probability));
        }
        match normal_probability {
            Some(p) => {
                let defect = if Some(vote.label) == normal { self.defect_vote(search, vote.label, bounds) } else { None };
                let defect = defect.unwrap_or_else(|| vote.clone());
                (defect.label, (1.0 - p) * defect.confidence, None)
            }
            None => (vote.label, vote.confidence, None),
        }
    }

    /// The vote of the k nearest references that are not Normal: eight times k searched first,
    /// then every reference. None when no defect reference votes.
    fn defect_vote<'a>(
        &'a self,
        search: &impl Fn(usize) -> Vec<index::Hit<'a>>,
        normal: u16,
        bounds: index::Bounds,
    ) -> Option<index::Vote> {
        [8 * self.k, self.index.len()].into_iter().find_map(|n| {
            let defects: Vec<index::Hit> = search(n).into_iter().filter(|h| h.label != normal).take(self.k).collect();
            index::vote(&defects, bounds)
        })
    }

    pub async fn classify(&self, photo: &[u8]) -> Result<Prediction> {
        let embedding = self.embed_photo(photo).await?;
        self.label(&embedding)
    }
}

/// The share of the vote's references that are not Normal.
fn defect_share(hits: &[index::Hit], normal: Option<u16>) -> f32 {
    let defects = hits.iter().filter(|h| Some(h.label) != normal).count();
    defects as f32 / hits.len().max(1) as f32
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn added_only_votes_among_added_references_and_says_when_there_are_none() {
        let mut classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
        let bundled = &classifier.index.bundled;
        let query = bundled.row(0).to_vec();
        let own_class = (0..classifier.class_names.len() as u16).find(|&c| c != bundled.labels[0]).unwrap();
        let own_name = classifier.class_names[usize::from(own_class)].clone();
        assert!(classifier.set_added_only(true).unwrap_err().to_string().contains("no reference beans of your own"));
        classifier.added_only = true; // as eval-trays sets it before adding references
        let none = classifier.label(&query).unwrap_err().to_string();
        assert!(none.contains("no references of your own"), "{none}");
        // A far reference of another class: the bundle's own copy of the query is nearer, yet
        // only the added one votes.
        let far: Vec<f32> = query.iter().map(|v| -v).collect();
        classifier.add_reference(&far, &own_name).unwrap();
        let p = classifier.label(&query).unwrap();
        assert_eq!(p.label, own_name);
        assert!(p.neighbours.iter().all(|n| n.added));
        assert!(p.unknown, "the nearest own reference is far: {}", p.distance);
        assert_eq!(classifier.confirmed_spread(), 0.0, "one confirmed bean has no spread");
        let near: Vec<f32> = query.iter().zip(&far).map(|(q, f)| q + 0.1 * f).collect();
        let near_id = classifier.add_reference(&near, &own_name).unwrap();
        assert!(classifier.confirmed_spread() > 1.0, "two beans far apart: {}", classifier.confirmed_spread());
        assert!(classifier.remove_reference(&near_id));
        assert_eq!(classifier.confirmed_spread(), 0.0);
        let id = classifier.index.added.ids[0].clone();
        assert!(classifier.remove_reference(&id));
        assert!(!classifier.added_only, "with none added, all references vote again");
        let p = classifier.label(&query).unwrap();
        assert_eq!(p.neighbours[0].distance, 0.0);
        assert!(!p.neighbours[0].added);
    }

    /// No gate until confirmed beans hold both sides; then the gate's side is the label's, a
    /// defect is named by defect references only, and taking a side back drops the gate.
    #[test]
    fn the_gate_decides_normal_or_defect_once_both_are_confirmed() {
        let mut classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
        let normal = classifier.normal_class().unwrap();
        let bundled = classifier.index.bundled.clone();
        let (normals, defects): (Vec<usize>, Vec<usize>) = (0..bundled.len()).partition(|&i| bundled.labels[i] == normal);
        // Beans between a Normal and a defect reference: where the gate and the vote may differ.
        let between: Vec<Vec<f32>> = normals
            .iter()
            .flat_map(|&n| defects.iter().step_by(29).map(move |&d| (n, d)))
            .map(|(n, d)| {
                let sum: Vec<f32> = bundled.row(n).iter().zip(bundled.row(d)).map(|(a, b)| a + b).collect();
                let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
                sum.iter().map(|v| v / norm).collect()
            })
            .collect();
        let plain: Vec<Prediction> = between.iter().map(|q| classifier.label(q).unwrap()).collect();
        assert!(plain.iter().all(|p| p.normal_probability.is_none()));
        let defect_name = classifier.class_names[usize::from(bundled.labels[defects[0]])].clone();
        classifier.add_reference(bundled.row(normals[0]), NORMAL).unwrap();
        assert!(classifier.gate().is_none(), "Normal beans alone: no gate");
        let defect_id = classifier.add_reference(bundled.row(defects[0]), &defect_name).unwrap();
        assert!(classifier.gate().is_some());
        let mut overruled = 0;
        for (q, before) in between.iter().zip(&plain) {
            let p = classifier.label(q).unwrap();
            let normal_probability = p.normal_probability.expect("the gate decides");
            assert_eq!(p.label == NORMAL, normal_probability >= 0.5, "{p:?}");
            assert!((0.0..=1.0).contains(&p.confidence));
            let vote = index::vote(&classifier.index.search(q, classifier.k), classifier.bounds(classifier.threshold)).unwrap();
            assert_eq!(p.unknown, vote.unknown, "unknown stays the vote's");
            overruled += usize::from((before.label == NORMAL) != (p.label == NORMAL));
        }
        assert!(overruled > 0, "the gate never overruled the vote: the test has no teeth");
        // Voting among one's own only (set directly, as the evaluations do): a gate of their own.
        let with_bundle = classifier.gate().cloned();
        classifier.added_only = true;
        assert!(classifier.gate().is_some_and(|own| Some(own) != with_bundle.as_ref()));
        classifier.added_only = false;
        assert_eq!(classifier.gate().cloned(), with_bundle);
        assert!(classifier.remove_reference(&defect_id));
        assert!(classifier.gate().is_none());
        assert!(classifier.label(&between[0]).unwrap().normal_probability.is_none());
    }

    /// No head until confirmed beans hold two kinds of defect; then every defect label is the
    /// head's, Normal ones are the vote's (no gate without a confirmed Normal bean), confirmed
    /// beans keep their labels, and taking a kind back drops the head.
    #[test]
    fn the_defect_head_names_defects_once_two_kinds_are_confirmed() {
        let mut classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
        let normal = classifier.normal_class().unwrap();
        let bundled = classifier.index.bundled.clone();
        let defects: Vec<usize> = (0..bundled.len()).filter(|&i| bundled.labels[i] != normal).collect();
        let other_kind = *defects.iter().find(|&&i| bundled.labels[i] != bundled.labels[defects[0]]).unwrap();
        let name = |i: usize| classifier.class_names[usize::from(bundled.labels[i])].clone();
        let (first, second) = (name(defects[0]), name(other_kind));
        let queries: Vec<&[f32]> = (0..bundled.len()).step_by(7).map(|i| bundled.row(i)).collect();
        let plain: Vec<Prediction> = queries.iter().map(|q| classifier.label(q).unwrap()).collect();
        classifier.add_reference(bundled.row(defects[0]), &first).unwrap();
        assert!(classifier.defect_head().is_none(), "one kind of defect: no head");
        let second_id = classifier.add_reference(bundled.row(other_kind), &second).unwrap();
        let head = classifier.defect_head().cloned().expect("two kinds confirmed");
        let mut renamed = 0;
        for (q, before) in queries.iter().zip(&plain) {
            let p = classifier.label(q).unwrap();
            assert!(p.normal_probability.is_none(), "no Normal bean confirmed: no gate");
            if p.label == NORMAL {
                assert!(p.defect_probability.is_none());
                continue;
            }
            let (class, probability) = head.name(q);
            assert_eq!(p.label, classifier.class_names[usize::from(class)]);
            assert_eq!(p.defect_probability, Some(probability));
            assert!((0.0..=probability).contains(&p.confidence), "{p:?}");
            renamed += usize::from(p.label != before.label);
        }
        assert!(renamed > 0, "the head never renamed a defect: the test has no teeth");
        assert_eq!(classifier.label(bundled.row(defects[0])).unwrap().label, first);
        assert_eq!(classifier.label(bundled.row(other_kind)).unwrap().label, second);
        classifier.added_only = true;
        assert!(classifier.defect_head().is_some_and(|own| own != &head), "one's own only: a head of their own");
        classifier.added_only = false;
        assert!(classifier.remove_reference(&second_id));
        assert!(classifier.defect_head().is_none());
        assert!(classifier.label(queries[0]).unwrap().defect_probability.is_none());
    }

    /// A bean's traits come after its embedding: the vote reads the embedding, references keep
    /// the traits (through a references file too), and the head weighs them where the confirmed
    /// beans' traits tell their kinds apart.
    #[test]
    fn beans_carry_their_traits_into_references_and_the_head() {
        let mut classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
        let normal = classifier.normal_class().unwrap();
        let bundled = classifier.index.bundled.clone();
        let dim = classifier.model_config.embed_dim;
        let defects: Vec<usize> = (0..bundled.len()).filter(|&i| bundled.labels[i] != normal).collect();
        let kinds = [
            bundled.labels[defects[0]],
            *defects.iter().map(|&i| &bundled.labels[i]).find(|&&l| l != bundled.labels[defects[0]]).unwrap(),
        ];
        // Ten beans of each kind whose embeddings are all the first kind's, told apart by a trait.
        let bean = |kind: usize, i: usize| {
            let mut b = bundled.row(defects[i]).to_vec();
            b.extend((0..TRAITS).map(|t| if t == 0 { kind as f32 } else { (i as f32 * 0.7 + t as f32).sin() }));
            b
        };
        let embedding_alone = classifier.label(&bean(0, 0)[..dim]).unwrap();
        assert_eq!(classifier.label(&bean(0, 0)).unwrap(), embedding_alone, "no references of one's own: traits change nothing");
        for i in 0..10 {
            for (kind, &class) in kinds.iter().enumerate() {
                let name = classifier.class_names[usize::from(class)].clone();
                classifier.add_reference(&bean(kind, i), &name).unwrap();
            }
        }
        assert!(classifier.defect_head().unwrap().weighs_traits());
        let named = |c: &Classifier, kind: usize| c.label(&bean(kind, 3)).unwrap().label;
        assert_eq!(named(&classifier, 1), classifier.class_names[usize::from(kinds[1])]);
        assert_eq!(named(&classifier, 0), classifier.class_names[usize::from(kinds[0])]);

        let file = classifier.export_references().unwrap();
        let mut other = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
        other.import_references(&file).unwrap();
        assert!(other.defect_head().unwrap().weighs_traits(), "the traits came with the file");
        assert_eq!(named(&other, 1), named(&classifier, 1));
        let err = classifier.label(&[0.1; 7]).unwrap_err().to_string();
        assert!(err.contains("7 values") && err.contains(&format!("{}", dim + TRAITS)), "{err}");
    }

    /// Inputs laid end to end embed exactly as the same inputs one row each (the tray pool hands
    /// them over flat), and a length that is not whole inputs is refused.
    #[test]
    fn flat_inputs_embed_like_rows() {
        let classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/greencoffee/r2/Black");
        let mut files: Vec<_> = std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let inputs: Vec<Vec<f32>> = files.iter().take(3).map(|f| classifier.input(&std::fs::read(f).unwrap()).unwrap()).collect();
        let rows = pollster::block_on(classifier.embed_inputs(&inputs)).unwrap();
        let flat = pollster::block_on(classifier.embed_flat(inputs.concat())).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(flat, rows.concat());
        let mut ragged = inputs.concat();
        ragged.pop();
        let err = pollster::block_on(classifier.embed_flat(ragged)).unwrap_err();
        assert!(err.to_string().contains("not whole"), "{err}");
    }

    /// With N views a photo's embedding is the unit mean of the embeddings of its N flipped and
    /// turned inputs (turned here by hand), and tray beans keep their own view count.
    #[test]
    fn views_average_the_turned_inputs() {
        let mut classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
        let photo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/greencoffee/r2/Black");
        let file = std::fs::read_dir(photo).unwrap().map(|e| e.unwrap().path()).min().unwrap();
        let input = classifier.input(&std::fs::read(file).unwrap()).unwrap();
        let side = classifier.preprocess.input_size as usize;
        // (y, x) of the source pixel for each of the 8 symmetries of a side × side plane.
        let turned = |which: usize| -> Vec<f32> {
            let mut out = vec![0.0; input.len()];
            for c in 0..3 {
                for y in 0..side {
                    for x in 0..side {
                        let (mut sy, mut sx) = if which & 4 != 0 { (x, y) } else { (y, x) };
                        if which & 1 != 0 {
                            (sy, sx) = if which & 4 != 0 { (side - 1 - sy, sx) } else { (sy, side - 1 - sx) };
                        }
                        if which & 2 != 0 {
                            (sy, sx) = if which & 4 != 0 { (sy, side - 1 - sx) } else { (side - 1 - sy, sx) };
                        }
                        out[(c * side + y) * side + x] = input[(c * side + sy) * side + sx];
                    }
                }
            }
            out
        };
        classifier.set_views(1).unwrap();
        let singles = pollster::block_on(classifier.embed_inputs(&(0..8).map(turned).collect::<Vec<_>>())).unwrap();
        for n in [2usize, 4, 8] {
            let mut mean = vec![0.0f32; singles[0].len()];
            singles[..n].iter().for_each(|e| mean.iter_mut().zip(e).for_each(|(m, v)| *m += v));
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
            classifier.set_views(n as u8).unwrap();
            let got = pollster::block_on(classifier.embed_inputs(std::slice::from_ref(&input))).unwrap().remove(0);
            let worst = got.iter().zip(&mean).map(|(g, m)| (g - m / norm).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-4, "{n} views: off by {worst}");
            assert!(singles[n - 1] != singles[0], "view {} differs from the photo", n - 1);
        }
        assert_eq!(classifier.tray_views(), TRAY_VIEWS);
        let bean = pollster::block_on(classifier.embed_tray_beans(input.clone())).unwrap();
        let one = pollster::block_on(classifier.embed_flat(input.clone())).unwrap();
        assert!(bean != one, "photos take the bundle's 8 views");
        let off = bean.iter().zip(&singles[0]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(off < 1e-5, "a tray bean takes one view by default (off by {off})");
        assert!(classifier.set_views(3).is_err() && classifier.views() == 8);
        classifier.set_tray_views(4).unwrap();
        assert_eq!(pollster::block_on(classifier.embed_tray_beans(input.clone())).unwrap(), {
            classifier.set_views(4).unwrap();
            pollster::block_on(classifier.embed_flat(input.clone())).unwrap()
        });
    }
}
