//! Reference beans and the kNN vote. Small reference sets are scanned exactly; large ones are
//! searched through an instant-distance HNSW graph built natively and shipped in the bundle.
//! References added at run time are always scanned exactly, together with the bundled index.

use instant_distance::{HnswMap, Search};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Up to this many bundled references an exact scan beats the graph: natively the scan costs
/// ≈ 0.07–0.09 µs per reference and a graph query ≈ 180–240 µs, so they cross near 2,500
/// (`cargo bench --bench index`; README, "Index scaling").
pub const EXACT_SCAN_MAX: usize = 2500;

/// A reference confirmed at run time (this device's or the shared library's) counts in the vote
/// as this much nearer than a bundled one: it was shot with the grader's own camera and light,
/// which the bundle's references were not (`docs/results.md`, "Confirmed beans count for more").
pub const CONFIRMED_NEARER: f32 = 0.75;

/// Confirmed beans whose nearest other is measured for [`spread`], at most.
pub const SPREAD_SAMPLE: usize = 128;

/// Embeddings with their class and a stable id (bean id or file name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceSet {
    pub dim: usize,
    /// Row-major, `len() × dim`, each row L2-normalised.
    pub embeddings: Vec<f32>,
    pub labels: Vec<u16>,
    pub ids: Vec<String>,
}

impl ReferenceSet {
    pub fn new(dim: usize) -> Self {
        Self { dim, ..Self::default() }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.embeddings[i * self.dim..(i + 1) * self.dim]
    }

    pub fn push(&mut self, embedding: &[f32], label: u16, id: String) -> Result<()> {
        if embedding.len() != self.dim {
            return Err(Error::Index(format!(
                "embedding has {} values, the index holds {}-d embeddings",
                embedding.len(),
                self.dim
            )));
        }
        self.embeddings.extend_from_slice(embedding);
        self.labels.push(label);
        self.ids.push(id);
        Ok(())
    }

    /// Removes every reference with this id; returns how many were removed.
    pub fn remove(&mut self, id: &str) -> usize {
        let keep: Vec<usize> = (0..self.len()).filter(|&i| self.ids[i] != id).collect();
        let removed = self.len() - keep.len();
        if removed > 0 {
            let mut next = ReferenceSet::new(self.dim);
            for i in keep {
                next.embeddings.extend_from_slice(self.row(i));
                next.labels.push(self.labels[i]);
                next.ids.push(self.ids[i].clone());
            }
            *self = next;
        }
        removed
    }

    /// Checks internal consistency (used after decoding untrusted bytes).
    pub fn validate(&self, n_classes: usize) -> Result<()> {
        let n = self.len();
        if self.ids.len() != n || self.embeddings.len() != n * self.dim {
            return Err(Error::Index(format!(
                "inconsistent reference set: {n} labels, {} ids, {} values for {}-d embeddings",
                self.ids.len(),
                self.embeddings.len(),
                self.dim
            )));
        }
        if let Some(&bad) = self.labels.iter().find(|&&l| usize::from(l) >= n_classes) {
            return Err(Error::Index(format!("reference label {bad} but only {n_classes} classes")));
        }
        Ok(())
    }

    /// The `k` nearest rows by exact scan, nearest first.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        let mut all: Vec<Neighbour> =
            (0..self.len()).map(|i| Neighbour { reference: i, distance: euclidean(query, self.row(i)) }).collect();
        let k = k.min(all.len());
        if k == 0 {
            return Vec::new();
        }
        all.select_nth_unstable_by(k - 1, |a, b| a.distance.total_cmp(&b.distance));
        all.truncate(k);
        all.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        all
    }
}

pub fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

/// One search hit: a row of a reference set and its distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub reference: usize,
    pub distance: f32,
}

/// A point of the HNSW graph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingPoint(pub Vec<f32>);

impl instant_distance::Point for EmbeddingPoint {
    fn distance(&self, other: &Self) -> f32 {
        euclidean(&self.0, &other.0)
    }
}

/// The HNSW graph over a reference set; its values are row numbers of that set.
pub type Graph = HnswMap<EmbeddingPoint, u32>;

/// Builds the graph (slow: do it natively, at export time).
pub fn build_graph(refs: &ReferenceSet, seed: u64) -> Graph {
    let points = (0..refs.len()).map(|i| EmbeddingPoint(refs.row(i).to_vec())).collect();
    let values = (0..refs.len() as u32).collect();
    instant_distance::Builder::default().seed(seed).build(points, values)
}

/// Bundled references (exact scan or graph) plus references added at run time (exact scan).
pub struct Index {
    pub bundled: ReferenceSet,
    graph: Option<Graph>,
    pub added: ReferenceSet,
    /// References other graders confirmed, pulled from the shared library (ids: point ids).
    pub shared: ReferenceSet,
    /// The graph is searched only above this many bundled references.
    exact_scan_max: usize,
}

impl Index {
    pub fn new(bundled: ReferenceSet, graph: Option<Graph>) -> Self {
        let added = ReferenceSet::new(bundled.dim);
        let shared = ReferenceSet::new(bundled.dim);
        Self { bundled, graph, added, shared, exact_scan_max: EXACT_SCAN_MAX }
    }

    /// Searches the graph whatever the size (for measuring it against the exact scan).
    pub fn with_graph_always(bundled: ReferenceSet, graph: Graph) -> Self {
        Self { exact_scan_max: 0, ..Self::new(bundled, Some(graph)) }
    }

    pub fn len(&self) -> usize {
        self.bundled.len() + self.added.len() + self.shared.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest references over every set, nearest first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Hit<'_>> {
        nearest([self.search_bundled(query, k), self.search_added(query, k)].concat(), k)
    }

    /// The `k` nearest of the references added at run time (one's own and the shared
    /// library's), nearest first.
    pub fn search_added(&self, query: &[f32], k: usize) -> Vec<Hit<'_>> {
        let shared =
            self.shared.exact_search(query, k).into_iter().map(|n| Hit { shared: true, ..Hit::from_set(&self.shared, n, true) });
        nearest(self.search_own(query, k).into_iter().chain(shared).collect(), k)
    }

    /// The `k` nearest of the bundle's references (the graph above [`EXACT_SCAN_MAX`]).
    pub fn search_bundled(&self, query: &[f32], k: usize) -> Vec<Hit<'_>> {
        let found = match &self.graph {
            Some(graph) if self.bundled.len() > self.exact_scan_max => {
                let mut search = Search::default();
                graph
                    .search(&EmbeddingPoint(query.to_vec()), &mut search)
                    .take(k)
                    .map(|item| Neighbour { reference: *item.value as usize, distance: item.distance })
                    .collect()
            }
            _ => self.bundled.exact_search(query, k),
        };
        found.into_iter().map(|n| Hit::from_set(&self.bundled, n, false)).collect()
    }

    /// The `k` nearest of this device's own added references.
    pub fn search_own(&self, query: &[f32], k: usize) -> Vec<Hit<'_>> {
        self.added.exact_search(query, k).into_iter().map(|n| Hit::from_set(&self.added, n, true)).collect()
    }

    /// Whether any reference was added at run time, here or in the shared library.
    pub fn has_added(&self) -> bool {
        !self.added.is_empty() || !self.shared.is_empty()
    }
}

/// The `k` nearest of `hits` as the vote weighs them ([`Hit::weighed`]), nearest first.
pub fn nearest(mut hits: Vec<Hit<'_>>, k: usize) -> Vec<Hit<'_>> {
    hits.sort_by(|a, b| a.weighed().total_cmp(&b.weighed()));
    hits.truncate(k);
    hits
}

/// A search hit resolved to its label and id.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub label: u16,
    pub id: &'a str,
    pub distance: f32,
    /// From the references added at run time.
    pub added: bool,
    /// From the shared library (another grader's reference).
    pub shared: bool,
}

impl<'a> Hit<'a> {
    /// The distance the vote ranks and sums: a confirmed reference's scaled by [`CONFIRMED_NEARER`].
    pub fn weighed(&self) -> f32 {
        if self.added { self.distance * CONFIRMED_NEARER } else { self.distance }
    }

    fn from_set(set: &'a ReferenceSet, n: Neighbour, added: bool) -> Self {
        Self { label: set.labels[n.reference], id: &set.ids[n.reference], distance: n.distance, added, shared: false }
    }
}

/// Outcome of the kNN vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub label: u16,
    /// Share of the k votes won by `label`.
    pub confidence: f32,
    /// Distance to the nearest reference, unweighed (the new-camera notice reads it): not always
    /// the first hit's, which may be a confirmed bean a little farther.
    pub distance: f32,
    /// Every voter is beyond its bound ([`Bounds`]): probably a class nobody labelled.
    pub unknown: bool,
}

/// Distances beyond which a reference does not vouch for a bean: the bundle's threshold for its
/// references, and for references confirmed at run time at least that, or as far apart as
/// confirmed beans lie ([`spread`]): a few confirmed beans of a class sit farther from a new bean
/// than the bundle's many do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub bundled: f32,
    pub confirmed: f32,
}

impl Bounds {
    fn of(&self, hit: &Hit) -> f32 {
        if hit.added { self.confirmed } else { self.bundled }
    }
}

/// One bound for every reference.
impl From<f32> for Bounds {
    fn from(threshold: f32) -> Self {
        Self { bundled: threshold, confirmed: threshold }
    }
}

/// The 95th percentile (nearest rank) of confirmed beans' distances to their nearest other, over
/// `sets` together; up to [`SPREAD_SAMPLE`] beans, evenly spaced, are measured against all. 0
/// with fewer than two beans.
pub fn spread(sets: &[&ReferenceSet]) -> f32 {
    let rows: Vec<&[f32]> = sets.iter().flat_map(|s| (0..s.len()).map(|i| s.row(i))).collect();
    if rows.len() < 2 {
        return 0.0;
    }
    let step = rows.len().div_ceil(SPREAD_SAMPLE);
    let mut nearest: Vec<f32> = (0..rows.len())
        .step_by(step)
        .map(|i| (0..rows.len()).filter(|&j| j != i).map(|j| euclidean(rows[i], rows[j])).fold(f32::INFINITY, f32::min))
        .collect();
    nearest.sort_by(f32::total_cmp);
    nearest[(nearest.len() * 95).div_ceil(100) - 1]
}

/// Majority vote of the hits (nearest first, as [`nearest`] orders them); ties go to the class
/// with the smaller summed weighed distance.
pub fn vote(hits: &[Hit], bounds: impl Into<Bounds>) -> Option<Vote> {
    if hits.is_empty() {
        return None;
    }
    let bounds = bounds.into();
    let mut tally: Vec<(u16, usize, f32)> = Vec::new();
    for hit in hits {
        match tally.iter_mut().find(|t| t.0 == hit.label) {
            Some(t) => {
                t.1 += 1;
                t.2 += hit.weighed();
            }
            None => tally.push((hit.label, 1, hit.weighed())),
        }
    }
    let &(label, count, _) = tally.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.2.total_cmp(&a.2))).expect("non-empty");
    Some(Vote {
        label,
        confidence: count as f32 / hits.len() as f32,
        distance: hits.iter().map(|h| h.distance).fold(f32::INFINITY, f32::min),
        unknown: hits.iter().all(|h| h.distance > bounds.of(h)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin()]
    }

    fn circle() -> ReferenceSet {
        let mut refs = ReferenceSet::new(2);
        for i in 0..12 {
            refs.push(&unit(i as f32 * 0.5), (i / 4) as u16, format!("r{i}")).unwrap();
        }
        refs
    }

    #[test]
    fn exact_search_orders_by_distance() {
        let refs = circle();
        let hits = refs.exact_search(&unit(1.0), 3);
        let rows: Vec<usize> = hits.iter().map(|h| h.reference).collect();
        assert_eq!(rows[0], 2);
        assert!(rows[1..].contains(&1) && rows[1..].contains(&3));
        assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
    }

    #[test]
    fn vote_takes_majority_and_flags_far_queries() {
        let index = Index::new(circle(), None);
        let hits = index.search(&unit(0.6), 3);
        let v = vote(&hits, 0.5).unwrap();
        assert_eq!(v.label, 0);
        assert!((v.confidence - 2.0 / 3.0).abs() < 1e-6 || v.confidence == 1.0);
        assert!(!v.unknown);
        let far = vote(&index.search(&[0.0, 0.0], 3), 0.5).unwrap();
        assert!(far.unknown);
        assert!(vote(&[], 0.5).is_none());
    }

    #[test]
    fn added_references_join_the_vote_and_can_be_removed() {
        let mut index = Index::new(circle(), None);
        let q = unit(0.0);
        for i in 0..3 {
            index.added.push(&q, 2, format!("new{i}")).unwrap();
        }
        assert_eq!(vote(&index.search(&q, 3), 1.0).unwrap().label, 2);
        assert_eq!(index.added.remove("new1"), 1);
        assert_eq!(index.added.len(), 2);
        assert!(index.added.push(&[1.0], 0, "bad".into()).is_err());
    }

    #[test]
    fn added_only_search_ignores_nearer_bundled_references() {
        let mut index = Index::new(circle(), None);
        let q = unit(0.0); // bundled r0 sits exactly here
        index.added.push(&unit(1.0), 2, "far".into()).unwrap();
        index.added.push(&unit(2.0), 1, "farther".into()).unwrap();
        assert!(!index.search(&q, 1)[0].added);
        let hits = index.search_added(&q, 5);
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), ["far", "farther"]);
        assert!(hits.iter().all(|h| h.added));
        assert!(Index::new(circle(), None).search_added(&q, 5).is_empty());
    }

    #[test]
    fn a_confirmed_reference_counts_as_nearer_than_a_bundled_one() {
        let mut index = Index::new(circle(), None);
        let q = unit(0.2); // bundled r0 (class 0) at 0.2 rad: 0.199 away
        index.added.push(&unit(0.45), 2, "own".into()).unwrap(); // 0.248 away, weighed 0.186
        let hits = index.search(&q, 1);
        assert_eq!((hits[0].id, hits[0].label), ("own", 2));
        assert!((hits[0].distance - 2.0 * 0.125f32.sin()).abs() < 1e-5, "{}", hits[0].distance);
        // Far enough away, the bundled bean still wins.
        let mut index = Index::new(circle(), None);
        index.added.push(&unit(0.6), 2, "own".into()).unwrap(); // 0.398 away, weighed 0.298
        assert_eq!(index.search(&q, 1)[0].id, "r0");
    }

    #[test]
    fn confirmed_references_vouch_within_their_own_bound() {
        let mut index = Index::new(ReferenceSet::new(2), None);
        index.added.push(&unit(0.0), 0, "own".into()).unwrap();
        let hits = index.search(&unit(0.3), 1); // 0.299 away
        assert!(vote(&hits, 0.2).unwrap().unknown);
        assert!(!vote(&hits, Bounds { bundled: 0.2, confirmed: 0.3 }).unwrap().unknown);
        // A bundled voter within its bound vouches too, whichever hit is nearest.
        let mut index = Index::new(circle(), None);
        index.added.push(&unit(0.55), 1, "own".into()).unwrap();
        let hits = index.search(&unit(0.25), 2); // own 0.299 (weighed 0.224), r0 0.249
        assert_eq!(hits[0].id, "own");
        let v = vote(&hits, Bounds { bundled: 0.25, confirmed: 0.2 }).unwrap();
        assert!(!v.unknown);
        assert_eq!(v.distance, hits[1].distance, "the nearest unweighed");
    }

    #[test]
    fn spread_is_how_far_apart_confirmed_beans_lie() {
        assert_eq!(spread(&[&ReferenceSet::new(2)]), 0.0);
        let mut one = ReferenceSet::new(2);
        one.push(&unit(0.0), 0, "a".into()).unwrap();
        assert_eq!(spread(&[&one]), 0.0);
        // Twelve beans 0.5 rad apart, and one more half-way between two of them, in a second set.
        let mut extra = ReferenceSet::new(2);
        extra.push(&unit(0.25), 1, "b".into()).unwrap();
        let apart = 2.0 * 0.25f32.sin();
        assert!((spread(&[&circle()]) - apart).abs() < 1e-5);
        assert!((spread(&[&circle(), &extra]) - apart).abs() < 1e-5, "most lie 0.5 rad apart");
        assert!(spread(&[&one, &extra]) < apart);
    }

    #[test]
    fn graph_agrees_with_exact_scan() {
        let mut refs = ReferenceSet::new(8);
        let mut state = 1u64;
        for i in 0..300 {
            let v: Vec<f32> = (0..8)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            refs.push(&v, (i % 3) as u16, format!("p{i}")).unwrap();
        }
        let graph = build_graph(&refs, 7);
        let query = refs.row(17).to_vec();
        let mut search = Search::default();
        let from_graph: Vec<u32> = graph.search(&EmbeddingPoint(query.clone()), &mut search).take(5).map(|i| *i.value).collect();
        let exact: Vec<u32> = refs.exact_search(&query, 5).iter().map(|n| n.reference as u32).collect();
        assert_eq!(from_graph, exact);
    }
}
