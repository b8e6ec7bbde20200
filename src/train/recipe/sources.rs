//! Data sources: the labelled photos a run trains on (all, or a drawn budget, plus
//! pseudo-labelled ones), the split it reports on, and which photos may become references.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Result, bail};

use super::Recipe;
use crate::eval::self_label;
use crate::eval::study::{self, Labelled, draw_beans};
use crate::preprocess::PreprocessParams;
use crate::train::data::{Dataset, labelled_photos};
use crate::train::progress::report_step as step;

/// How a budget of labelled beans is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Draw {
    Random,
    /// As evenly over the classes as the photos allow (as someone collecting reference beans
    /// class by class would).
    Balanced,
}

pub(super) struct Sources {
    pub dataset: Dataset,
    /// The split `--eval-split` names, opened before training so a missing one fails early.
    pub eval_set: Option<Dataset>,
    /// Every labelled photo of the training split.
    pub pool: Labelled,
    /// Rows of `pool` whose labels are read (sorted).
    pub chosen: Vec<usize>,
    /// The photos trained on: the chosen ones, then any pseudo-labelled ones.
    pub train: Labelled,
    /// Rows of `pool` trained on, in `train`'s order.
    pub trained: Vec<usize>,
    /// Rows of `train` that may be references (all, or those of `--refs-rounds`).
    pub eligible: Vec<bool>,
}

pub(super) fn load(recipe: &Recipe, preprocess: &PreprocessParams) -> Result<Sources> {
    let started = Instant::now();
    let dataset = recipe.data.open()?;
    let eval_set = recipe.eval_split.as_ref().map(|split| recipe.data.with_split(split).open()).transpose()?;
    let pool = labelled_photos(&dataset, preprocess);
    let chosen: Vec<usize> = match recipe.labels {
        Some(n) => match recipe.draw {
            Draw::Random => draw_beans(&pool.beans, n, recipe.tune.seed),
            Draw::Balanced => study::draw_beans_balanced(&pool.beans, &pool.labels, n, recipe.tune.seed),
        },
        None => (0..pool.images.len()).collect(),
    };
    let mut train = Labelled {
        images: study::pick(&pool.images, &chosen),
        labels: study::pick(&pool.labels, &chosen),
        beans: study::pick(&pool.beans, &chosen),
        ids: study::pick(&pool.ids, &chosen),
    };
    step(
        &format!(
            "load {} labelled photos ({} used{})",
            pool.images.len(),
            train.images.len(),
            if recipe.labels.is_some() {
                format!(", {:?} draw: {}", recipe.draw, class_counts(&dataset.class_names, &train.labels))
            } else {
                String::new()
            }
        ),
        started,
    );
    let mut trained = chosen.clone();
    if let Some(path) = &recipe.pseudo_labels {
        let pseudo = self_label::read_pseudo_labels(path, &pool.ids, &dataset.class_names)?;
        let fresh: Vec<(usize, u16)> = pseudo.into_iter().filter(|(row, _)| chosen.binary_search(row).is_err()).collect();
        for &(row, label) in &fresh {
            train.images.push(pool.images[row].clone());
            train.labels.push(label);
            train.beans.push(pool.beans[row].clone());
            train.ids.push(pool.ids[row].clone());
            trained.push(row);
        }
        let labels: Vec<u16> = fresh.iter().map(|p| p.1).collect();
        eprintln!(
            "  + {} self-labelled photos from {} ({})",
            fresh.len(),
            path.display(),
            class_counts(&dataset.class_names, &labels)
        );
    }
    let eligible = eligible_references(recipe, &dataset, &train)?;
    Ok(Sources { dataset, eval_set, pool, chosen, train, trained, eligible })
}

/// Training photos that may be references: checked before the training, so a round that is not
/// there costs no training run.
fn eligible_references(recipe: &Recipe, dataset: &Dataset, train: &Labelled) -> Result<Vec<bool>> {
    let Some(rounds) = &recipe.refs_rounds else { return Ok(vec![true; train.ids.len()]) };
    let ids: HashSet<String> = dataset.samples.iter().filter(|s| rounds.contains(&s.round)).map(|s| s.reference_id()).collect();
    let eligible: Vec<bool> = train.ids.iter().map(|id| ids.contains(id)).collect();
    if !eligible.contains(&true) {
        let mut there: Vec<&str> = dataset.samples.iter().map(|s| s.round.as_str()).collect();
        there.sort_unstable();
        there.dedup();
        bail!("--refs-rounds {}: no training photo of these rounds (rounds: {})", rounds.join(","), there.join(", "));
    }
    Ok(eligible)
}

/// "Normal 12, Broken 20, …": photos per class.
pub(super) fn class_counts(class_names: &[String], labels: &[u16]) -> String {
    class_names
        .iter()
        .enumerate()
        .map(|(c, name)| format!("{name} {}", labels.iter().filter(|&&l| usize::from(l) == c).count()))
        .collect::<Vec<_>>()
        .join(", ")
}
