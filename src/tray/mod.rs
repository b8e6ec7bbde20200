//! Tray photos: many beans on a light background. Each bean found goes through the same
//! preprocessing and classifier as a single-bean photo; the photo gets per-class counts, the
//! defect percentage and an SCA grading.

pub mod annotate;
pub mod detect;
pub mod grade;

use image::RgbImage;
use serde::Serialize;

use crate::classifier::{Classifier, Prediction};
use crate::error::Result;
use crate::preprocess;
use crate::traits::TRAITS;
use detect::Found;
use grade::Grading;

/// Beans embedded per model call: bounds memory on a crowded 12 MP tray.
pub const EMBED_BATCH: usize = 32;

/// One bean of a tray: where it is, what it is, and its embedding (so a correction can become a
/// reference without embedding it again).
#[derive(Debug, Clone, Serialize)]
pub struct TrayBean {
    #[serde(flatten)]
    pub found: Found,
    #[serde(flatten)]
    pub prediction: Prediction,
    pub embedding: Vec<f32>,
}

/// A labelled tray photo.
#[derive(Debug, Clone, Serialize)]
pub struct Tray {
    pub width: u32,
    pub height: u32,
    pub beans: Vec<TrayBean>,
    /// Labelled beans per class (class order), unknown beans left out.
    pub counts: Vec<(String, u32)>,
    pub unknown: u32,
    /// Defective beans as a percentage of the labelled beans.
    pub defect_percent: f32,
    pub grading: Grading,
    /// Most beans sit far from every reference ([`crate::notice::unfamiliar`]): a camera or light
    /// new to beanscan, whose grading is not to be trusted until a few beans are confirmed.
    pub unfamiliar: bool,
}

/// The model input for one found bean: its square, cut from the full-resolution photo, scaled by
/// the photo's white-reference `gains` ([`preprocess::photo_gains`], measured once per photo).
/// The traits are read from the same square ([`crate::traits`]), its size against the photo's.
pub fn bean_input(
    photo: &RgbImage,
    found: &Found,
    params: &preprocess::PreprocessParams,
    gains: [f32; 3],
) -> (Vec<f32>, [f32; TRAITS]) {
    let at = found.square(photo.width(), photo.height());
    let mut square = preprocess::crop_square(photo, at, params.input_size);
    preprocess::apply_gains(&mut square, gains);
    preprocess::square_to_bean(square, preprocess::side_share(photo, at.2), params)
}

/// Embeds the beans found in `photo`, in batches: each bean's embedding, then its traits.
pub async fn embed_beans(classifier: &Classifier, photo: &RgbImage, found: &[Found]) -> Result<Vec<Vec<f32>>> {
    let mut beans = Vec::with_capacity(found.len());
    let gains = preprocess::photo_gains(photo, &classifier.preprocess);
    for chunk in found.chunks(EMBED_BATCH) {
        let (inputs, traits): (Vec<Vec<f32>>, Vec<[f32; TRAITS]>) =
            chunk.iter().map(|f| bean_input(photo, f, &classifier.preprocess, gains)).unzip();
        let dim = classifier.model_config.embed_dim;
        let flat = classifier.embed_tray_beans(inputs.concat()).await?;
        beans.extend(flat.chunks(dim).zip(traits).map(|(e, t)| [e, &t[..]].concat()));
    }
    Ok(beans)
}

/// Finds, embeds and labels every bean of a decoded tray photo.
pub async fn label_tray(classifier: &Classifier, photo: &RgbImage) -> Result<Tray> {
    let found = detect::find_beans(photo);
    let embeddings = embed_beans(classifier, photo, &found).await?;
    label_found(classifier, photo.width(), photo.height(), found, embeddings)
}

/// Labels found beans from their embeddings and sums up the tray: the last step of
/// [`label_tray`], also for beans embedded elsewhere (the page's helper workers).
pub fn label_found(
    classifier: &Classifier,
    width: u32,
    height: u32,
    found: Vec<Found>,
    embeddings: Vec<Vec<f32>>,
) -> Result<Tray> {
    if found.len() != embeddings.len() {
        return Err(crate::Error::Model(format!("{} beans but {} embeddings", found.len(), embeddings.len())));
    }
    let mut beans = Vec::with_capacity(found.len());
    for (found, embedding) in found.into_iter().zip(embeddings) {
        let prediction = classifier.label_tray_bean(&embedding)?;
        beans.push(TrayBean { found, prediction, embedding });
    }
    let distances: Vec<f32> = beans.iter().map(|b| b.prediction.distance).collect();
    let mut tray = summarise(width, height, beans, &classifier.class_names);
    tray.unfamiliar = classifier.unfamiliar(&distances);
    Ok(tray)
}

/// Counts, defect percentage and grading of labelled beans (`unfamiliar` false: the caller that
/// knows the references sets it). Re-run after k, the threshold or a correction changes labels.
pub fn summarise(width: u32, height: u32, beans: Vec<TrayBean>, class_names: &[String]) -> Tray {
    let mut counts: Vec<(String, u32)> = class_names.iter().map(|c| (c.clone(), 0)).collect();
    let mut unknown = 0;
    for bean in &beans {
        if bean.prediction.unknown {
            unknown += 1;
            continue;
        }
        match counts.iter_mut().find(|(c, _)| *c == bean.prediction.label) {
            Some((_, n)) => *n += 1,
            None => counts.push((bean.prediction.label.clone(), 1)),
        }
    }
    let labelled: u32 = counts.iter().map(|(_, n)| n).sum();
    let defective: u32 = counts.iter().filter(|(c, _)| c != "Normal").map(|(_, n)| n).sum();
    let defect_percent = if labelled == 0 { 0.0 } else { 100.0 * defective as f32 / labelled as f32 };
    let grading = grade::grade(&counts);
    Tray { width, height, beans, counts, unknown, defect_percent, grading, unfamiliar: false }
}
