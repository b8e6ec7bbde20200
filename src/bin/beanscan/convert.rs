//! `beanscan convert`: the same bundle with its weights stored another way (size vs accuracy),
//! its references re-embedded from their photos with another view count, or its unknown
//! thresholds calibrated on labelled photos (single beans, and tray beans where the data holds
//! them) or set by hand.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use beanscan::Bundle;
use beanscan::bundle::WeightType;
use beanscan::classifier::{TRAY_VIEWS, load_embedder};
use beanscan::eval::unknown::{CALIBRATION_PER_CLASS, UnknownCheck, calibrate, calibration_rows};
use beanscan::index::{ReferenceSet, build_graph};
use beanscan::model::Net;
use beanscan::train::data::{Dataset, load_images};
use beanscan::train::export::{embed_images, weight_bytes};
use burn::tensor::Device;
use clap::{Args, ValueEnum};

use crate::native::load_bundle;

#[derive(Clone, Copy, ValueEnum)]
pub enum Weights {
    F32,
    F16,
    Int8,
}

impl From<Weights> for WeightType {
    fn from(w: Weights) -> Self {
        match w {
            Weights::F32 => WeightType::F32,
            Weights::F16 => WeightType::F16,
            Weights::Int8 => WeightType::Int8,
        }
    }
}

#[derive(Args)]
pub struct ConvertArgs {
    /// Bundle to convert (default: the bundle built into beanscan).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// How to store the weights (default: as they are).
    #[arg(long, value_enum)]
    pub weights: Option<Weights>,
    /// Re-embed the references from their photos as the mean of this many flips/turns (1, 2,
    /// 4 or 8), and make it the bundle's default for photos. Needs `--data`.
    #[arg(long, value_parser = crate::native::views_arg(), requires = "data")]
    pub views: Option<u8>,
    /// Calibrate the unknown thresholds: keep this share of labelled train photos that are not
    /// references (up to 100 per class, drawn by --seed) within them. The photos of the rounds
    /// the references come from set the single-bean threshold; those of other rounds (the tray
    /// beans `tray-crops` adds), embedded as a tray bean is, set the tray threshold. Needs `--data`.
    #[arg(long, requires = "data")]
    pub unknown_quantile: Option<f32>,
    /// Distance beyond which a bean of a tray photo is unknown (overrides a calibration).
    #[arg(long)]
    pub tray_threshold: Option<f32>,
    /// Seed of the calibration photos (`tune` uses its own --seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Labelled photos the references were made from (manifest.csv), found by their ids.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to write the converted bundle.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn convert_cmd(args: &ConvertArgs) -> Result<()> {
    let mut bundle = load_bundle(args.bundle.as_deref())?;
    let before = bundle.to_bytes()?.len();
    let device = Device::flex();
    if let Some(weights) = args.weights {
        let embedder = load_embedder(&bundle.model, bundle.weight_type, &bundle.weights, &device)?;
        bundle.weight_type = weights.into();
        bundle.weights = weight_bytes(embedder, bundle.weight_type)?;
    }
    // The net as stored now (after any weight change), loaded once for both steps below.
    let reembed = args.views.zip(args.data.as_deref());
    let calibration = args.unknown_quantile.zip(args.data.as_deref());
    let net = if reembed.is_some() || calibration.is_some() {
        Some(load_embedder(&bundle.model, bundle.weight_type, &bundle.weights, &device)?)
    } else {
        None
    };
    if let (Some((views, data)), Some(net)) = (reembed, &net) {
        reembed_references(&mut bundle, net, data, views, &device)?;
    }
    if let (Some((quantile, data)), Some(net)) = (calibration, &net) {
        let calibrate_trays = args.tray_threshold.is_none();
        for (what, check) in calibrate_thresholds(&mut bundle, net, data, quantile, args.seed, calibrate_trays, &device)? {
            println!("{what}{}", check.calibration_line());
        }
    } else if reembed.is_some() {
        eprintln!(
            "note: the unknown thresholds ({}; tray beans {}) were calibrated against the old references; \
             --unknown-quantile calibrates them again",
            bundle.default_threshold,
            bundle.tray_threshold.map_or_else(|| "the same".to_string(), |t| t.to_string())
        );
    }
    if let Some(t) = args.tray_threshold {
        bundle.tray_threshold = Some(t);
        bundle.validate()?;
    }
    let bytes = bundle.to_bytes()?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{}: {before} → {} bytes ({:?} weights, references of {} views, unknown threshold {}, tray beans {})",
        args.out.display(),
        bytes.len(),
        bundle.weight_type,
        bundle.default_views,
        bundle.default_threshold,
        bundle.tray_threshold()
    );
    Ok(())
}

/// Embeds the bundle's references again from their photos in `data` (found by
/// [`Sample::reference_id`](beanscan::train::data::Sample::reference_id), as `tune` names them), each as the mean of `views` flips/turns, by the bundle's own (stored)
/// weights; labels, ids and order stay, the graph is rebuilt.
fn reembed_references(bundle: &mut Bundle, net: &Net, data: &Path, views: u8, device: &Device) -> Result<()> {
    let dataset = Dataset::open(data)?;
    let by_id: HashMap<String, usize> = dataset.samples.iter().enumerate().map(|(r, s)| (s.reference_id(), r)).collect();
    let refs = &bundle.references;
    let rows: Vec<usize> = refs
        .ids
        .iter()
        .map(|i| by_id.get(i).copied().with_context(|| format!("reference {i} has no photo in {}", data.display())))
        .collect::<Result<_>>()?;
    let images = load_images(&dataset, &rows, &bundle.preprocess);
    ensure!(images.skipped == 0, "{} reference photos could not be read", images.skipped);
    let embeddings = embed_images(net, &bundle.preprocess, &images.images, views, device);
    let mut fresh = ReferenceSet::new(refs.dim);
    for (i, e) in embeddings.iter().enumerate() {
        fresh.push(e, refs.labels[i], refs.ids[i].clone())?;
    }
    bundle.graph = bundle.graph.as_ref().map(|_| build_graph(&fresh, 0));
    bundle.references = fresh;
    bundle.default_views = views;
    bundle.description = described_with_views(&bundle.description, views);
    bundle.validate()?;
    Ok(())
}

/// Sets the bundle's thresholds from labelled train photos of `data` that are not its
/// references, embedded as the bundle embeds them (the choice `tune` makes at export): those of
/// the references' rounds set the single-bean threshold; with `trays`, those of other rounds
/// (tray beans) set the tray threshold. Returns each check with what it set.
fn calibrate_thresholds(
    bundle: &mut Bundle,
    net: &Net,
    data: &Path,
    quantile: f32,
    seed: u64,
    trays: bool,
    device: &Device,
) -> Result<Vec<(&'static str, UnknownCheck)>> {
    let dataset = Dataset::open(data)?.split(Some("train"));
    // Labelled rows of the classes the bundle has, with the bundle's class numbers.
    let (rows, labels): (Vec<usize>, Vec<u16>) = (0..dataset.samples.len())
        .filter(|&r| dataset.samples[r].label_applies)
        .filter_map(|r| {
            let name = &dataset.class_names[usize::from(dataset.samples[r].label)];
            bundle.class_names.iter().position(|c| c == name).map(|i| (r, i as u16))
        })
        .unzip();
    let ids: Vec<String> = rows.iter().map(|&r| dataset.samples[r].reference_id()).collect();
    let reference_ids: HashSet<&str> = bundle.references.ids.iter().map(String::as_str).collect();
    let rounds: Vec<&str> = rows.iter().map(|&r| dataset.samples[r].round.as_str()).collect();
    let single_bean_row = in_reference_rounds(&ids, &rounds, &reference_ids);
    let mut checks = Vec::new();
    for (what, single_beans, views) in [("", true, bundle.default_views), ("tray beans: ", false, TRAY_VIEWS)] {
        if !single_beans && !trays {
            continue;
        }
        // The other kind's rows are left out as the references are.
        let outside: HashSet<&str> = (0..ids.len())
            .filter(|&i| single_bean_row[i] != single_beans)
            .map(|i| ids[i].as_str())
            .chain(reference_ids.iter().copied())
            .collect();
        let picked = calibration_rows(&ids, &labels, &outside, CALIBRATION_PER_CLASS, seed);
        if picked.is_empty() {
            ensure!(!single_beans, "no labelled train photo in {} outside the bundle's references", data.display());
            continue;
        }
        let images = load_images(&dataset, &picked.iter().map(|&i| rows[i]).collect::<Vec<_>>(), &bundle.preprocess);
        ensure!(images.skipped == 0, "{} calibration photos could not be read", images.skipped);
        let photos = embed_images(net, &bundle.preprocess, &images.images, views, device);
        let check = calibrate(&bundle.references, &photos, &picked.iter().map(|&i| labels[i]).collect::<Vec<_>>(), quantile);
        if single_beans {
            bundle.default_threshold = check.threshold;
        } else {
            bundle.tray_threshold = Some(check.threshold);
        }
        checks.push((what, check));
    }
    bundle.validate()?;
    Ok(checks)
}

/// Whether each row is of a round some reference comes from (every row where no reference is
/// among them: data without the references' photos is all single beans).
fn in_reference_rounds(ids: &[String], rounds: &[&str], reference_ids: &HashSet<&str>) -> Vec<bool> {
    let of_references: HashSet<&str> =
        ids.iter().zip(rounds).filter(|(id, _)| reference_ids.contains(id.as_str())).map(|(_, &round)| round).collect();
    rounds.iter().map(|round| of_references.is_empty() || of_references.contains(round)).collect()
}

/// The description with its references' view count: `N references (V views)`, as `tune`
/// writes it (an earlier count in brackets is replaced).
fn described_with_views(description: &str, views: u8) -> String {
    const WORD: &str = " references";
    let Some(at) = description.find(WORD) else { return format!("{description}, references of {views} views") };
    let (head, rest) = description.split_at(at + WORD.len());
    let rest = match rest.strip_prefix(" (").and_then(|r| r.split_once(')')) {
        Some((_, after)) => after,
        None => rest,
    };
    format!("{head} ({views} views){rest}")
}

#[cfg(test)]
mod tests {
    use super::{described_with_views, in_reference_rounds};

    #[test]
    fn the_description_names_the_view_count_once() {
        let first = described_with_views("Lite0, 8072 labelled photos, 356 references, seed 0", 8);
        assert_eq!(first, "Lite0, 8072 labelled photos, 356 references (8 views), seed 0");
        assert_eq!(described_with_views(&first, 2), "Lite0, 8072 labelled photos, 356 references (2 views), seed 0");
        assert_eq!(described_with_views("mine", 4), "mine, references of 4 views");
    }

    #[test]
    fn rows_of_the_references_rounds_are_single_beans_and_the_rest_tray_beans() {
        let ids: Vec<String> = ["a/1", "b/1", "c/1", "d/1"].map(String::from).to_vec();
        let rounds = ["r1", "r1", "20190401", "r2"];
        let refs = ["a/1"].into_iter().collect();
        assert_eq!(in_reference_rounds(&ids, &rounds, &refs), [true, true, false, false]);
        let none = ["x/1"].into_iter().collect();
        assert_eq!(in_reference_rounds(&ids, &rounds, &none), [true; 4]);
    }
}
