//! Index scaling: exact scan vs the instant-distance HNSW graph at 1k / 10k / 100k references.
//! Prints query median (µs), recall@10 against the exact scan, build time and serialized size.
//!
//!   cargo bench --bench index [-- SIZES]      (SIZES default: 1000,10000,100000)
//!   cargo bench --bench index -- SIZES --save DIR
//!   index.wasm SIZES --load DIR [--build-max N]   (bench/index-wasm.sh: the same file, built
//!                                                   for wasm32-wasip1, run under node)
//!
//! `--save` writes the queries and, per size, the references and their natively built graph
//! (postcard) so that the wasm run measures the very same data. `--load` reads them; the graph
//! is rebuilt in wasm up to `--build-max` references (default: all) and otherwise taken from the
//! file, as the product does (graphs are built at export time, natively).
//!
//! References are the real embeddings of the built-in bundle, replicated with noise: each
//! synthetic reference is a random bundled embedding plus N(0, 0.05²) per dimension,
//! re-normalised to unit length (so neighbourhoods look like real clusters, not uniform noise).
//! Queries are 500 more points drawn the same way.

use std::path::{Path, PathBuf};
use std::time::Instant;

use beanscan::Bundle;
use beanscan::index::{Graph, Index, ReferenceSet, build_graph};
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

fn option(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e} (write it with --save)", path.display()));
    postcard::from_bytes(&bytes).unwrap_or_else(|e| panic!("decoding {}: {e}", path.display()))
}

fn write<T: serde::Serialize>(path: &Path, value: &T) {
    std::fs::write(path, postcard::to_allocvec(value).expect("serialisable"))
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with('-') && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a.split(',').map(|s| s.parse().expect("sizes: comma-separated numbers")).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let save = option("--save").map(PathBuf::from);
    let load = option("--load").map(PathBuf::from);
    let build_max: usize = option("--build-max").map_or(usize::MAX, |v| v.parse().expect("--build-max: a number"));
    if let Some(dir) = &save {
        std::fs::create_dir_all(dir).expect("create the --save folder");
    }
    let mut rng = StdRng::seed_from_u64(1);
    let (base, queries): (Option<ReferenceSet>, Vec<Vec<f32>>) = match &load {
        Some(dir) => (None, read(&dir.join("queries.postcard"))),
        None => {
            let base = Bundle::embedded().expect("built-in bundle").references;
            let queries = (0..QUERIES).map(|_| noisy_copy(&base, &mut rng).0).collect();
            (Some(base), queries)
        }
    };
    if let Some(dir) = &save {
        write(&dir.join("queries.postcard"), &queries);
    }
    match &base {
        Some(base) => println!("base: {} real {}-d embeddings; k = {K}; {} queries\n", base.len(), base.dim, queries.len()),
        None => println!("data: {}; k = {K}; {} queries\n", load.as_ref().expect("load").display(), queries.len()),
    }
    println!(
        "| references | exact scan median µs | HNSW median µs | HNSW recall@{K} | HNSW build s | graph bytes (postcard) | exact bytes (f32) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let file = |dir: &Path| dir.join(format!("{n}.postcard"));
        let (refs, graph, build) = match (&base, &load) {
            (Some(base), _) => {
                let mut refs = ReferenceSet::new(base.dim);
                for i in 0..n {
                    let (v, label) = noisy_copy(base, &mut rng);
                    refs.push(&v, label, i.to_string()).expect("same dim");
                }
                let started = Instant::now();
                let graph = build_graph(&refs, 0);
                (refs, graph, format!("{:.1}", started.elapsed().as_secs_f64()))
            }
            (None, Some(dir)) => {
                let started = Instant::now();
                let (refs, graph): (ReferenceSet, Graph) = read(&file(dir));
                let load_s = started.elapsed().as_secs_f64();
                if n <= build_max {
                    let started = Instant::now();
                    let graph = build_graph(&refs, 0);
                    (refs, graph, format!("{:.1}", started.elapsed().as_secs_f64()))
                } else {
                    (refs, graph, format!("native; read + decode {load_s:.2}"))
                }
            }
            (None, None) => unreachable!("no base without --load"),
        };
        let exact_bytes = refs.embeddings.len() * 4;
        let graph_bytes = postcard::to_allocvec(&graph).expect("serialisable").len();
        if let Some(dir) = &save {
            write(&file(dir), &(&refs, &graph));
        }

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
            "| {n} | {:.1} | {:.1} | {:.3} | {build} | {graph_bytes} | {exact_bytes} |",
            median(exact_us),
            median(hnsw_us),
            found as f64 / (queries.len() * K) as f64
        );
    }
}
