//! Index scaling: exact scan vs the instant-distance HNSW graph at 1k / 10k / 100k references.
//! Prints query median (µs), recall@10 against the exact scan, build time and serialized size.
//!
//!   cargo bench --bench index [-- SIZES]      (SIZES default: 1000,10000,100000)
//!
//! References are the real embeddings of the built-in bundle, replicated with noise: each
//! synthetic reference is a random bundled embedding plus N(0, 0.05²) per dimension,
//! re-normalised to unit length (so neighbourhoods look like real clusters, not uniform noise).
//! Queries are 500 more points drawn the same way.

use std::time::Instant;

use beanscan::Bundle;
use beanscan::index::{Index, ReferenceSet, build_graph};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const K: usize = 10;
const QUERIES: usize = 500;

fn noisy_copy(base: &ReferenceSet, rng: &mut StdRng) -> (Vec<f32>, u16) {
    let i = rng.gen_range(0..base.len());
    // Box–Muller normal noise.
    let mut v: Vec<f32> = base
        .row(i)
        .iter()
        .map(|x| {
            let (u1, u2): (f32, f32) = (rng.gen_range(1e-7..1.0), rng.gen_range(0.0..1.0));
            x + 0.05 * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    (v, base.labels[i])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.split(',').map(|s| s.parse().expect("sizes: comma-separated numbers")).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let base = Bundle::embedded().expect("built-in bundle").references;
    let mut rng = StdRng::seed_from_u64(1);
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| noisy_copy(&base, &mut rng).0).collect();
    println!("base: {} real {}-d embeddings; k = {K}; {QUERIES} queries\n", base.len(), base.dim);
    println!("| references | exact scan median µs | HNSW median µs | HNSW recall@{K} | HNSW build s | graph bytes (postcard) | exact bytes (f32) |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let mut refs = ReferenceSet::new(base.dim);
        for i in 0..n {
            let (v, label) = noisy_copy(&base, &mut rng);
            refs.push(&v, label, i.to_string()).expect("same dim");
        }
        let exact_bytes = refs.embeddings.len() * 4;
        let started = Instant::now();
        let graph = build_graph(&refs, 0);
        let build_s = started.elapsed().as_secs_f64();
        let graph_bytes = postcard::to_allocvec(&graph).expect("serialisable").len();

        let exact = Index::new(refs.clone(), None);
        let mut exact_us = Vec::new();
        let truth: Vec<Vec<String>> = queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                let hits = exact.search(q, K);
                exact_us.push(t.elapsed().as_secs_f64() * 1e6);
                hits.iter().map(|h| h.id.to_string()).collect()
            })
            .collect();

        let hnsw = Index::with_graph_always(refs, graph);
        let mut hnsw_us = Vec::new();
        let mut found = 0usize;
        for (q, t) in queries.iter().zip(&truth) {
            let started = Instant::now();
            let hits = hnsw.search(q, K);
            hnsw_us.push(started.elapsed().as_secs_f64() * 1e6);
            found += hits.iter().filter(|h| t.iter().any(|id| id == h.id)).count();
        }
        println!(
            "| {n} | {:.1} | {:.1} | {:.3} | {build_s:.1} | {graph_bytes} | {exact_bytes} |",
            median(exact_us),
            median(hnsw_us),
            found as f64 / (queries.len() * K) as f64
        );
    }
}
