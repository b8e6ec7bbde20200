//! "Teach beanscan your camera": which beans of a batch or tray to ask a grader to confirm, so
//! that a few confirmations teach the most. Beans are picked spread over what the photos show
//! (each next one as far as possible from those already confirmed or picked, in embedding
//! space), typical beans before odd ones (a bean with many close neighbours stands for more of
//! the batch than a lone outlier does). Measured against random picks by `eval-camera --teach`.

use crate::index::euclidean;

/// Neighbours whose mean distance measures how typical a bean is (fewer in a small batch, so
/// that they stay its own cluster's).
const DENSITY_NEIGHBOURS: usize = 7;

/// Up to `n` indices into `beans` (embeddings), best first, none of them already confirmed;
/// `confirmed`: embeddings of the references this device already holds for the camera. The
/// same inputs give the same picks.
pub fn propose(beans: &[&[f32]], confirmed: &[&[f32]], n: usize) -> Vec<usize> {
    let typical = typicality(beans);
    // Distance to the nearest confirmed or picked bean; 2 (the largest between unit vectors)
    // while there is none.
    let mut gap: Vec<f32> = beans.iter().map(|b| confirmed.iter().map(|c| euclidean(b, c)).fold(2.0, f32::min)).collect();
    let mut picked = Vec::with_capacity(n.min(beans.len()));
    while picked.len() < n.min(beans.len()) {
        let best = (0..beans.len())
            .filter(|i| !picked.contains(i))
            .max_by(|&a, &b| (gap[a] * typical[a]).total_cmp(&(gap[b] * typical[b])).then(b.cmp(&a)))
            .expect("a bean is left");
        picked.push(best);
        for (g, bean) in gap.iter_mut().zip(beans) {
            *g = g.min(euclidean(bean, beans[best]));
        }
    }
    picked
}

/// Per bean, a weight in [0.5, 1.5]: higher where its nearest neighbours in the batch are closer.
fn typicality(beans: &[&[f32]]) -> Vec<f32> {
    let neighbours = DENSITY_NEIGHBOURS.min(beans.len().saturating_sub(1) / 3).max(1);
    let spread: Vec<f32> = beans
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut d: Vec<f32> = beans.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, o)| euclidean(b, o)).collect();
            d.sort_by(f32::total_cmp);
            let near = &d[..d.len().min(neighbours)];
            if near.is_empty() { 1.0 } else { near.iter().sum::<f32>() / near.len() as f32 }
        })
        .collect();
    let closeness: Vec<f32> = spread.iter().map(|s| 1.0 / (s + 1e-3)).collect();
    let most = closeness.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
    closeness.iter().map(|c| 0.5 + c / most).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin()]
    }

    /// Two tight clusters and an outlier: the first two picks are one bean of each cluster, the
    /// outlier comes after them, and a cluster already confirmed is skipped.
    #[test]
    fn picks_spread_over_the_clusters_typical_beans_first() {
        let beans: Vec<Vec<f32>> = [0.0, 0.02, 0.04, 0.06, 1.5, 1.52, 1.54, 3.0].into_iter().map(unit).collect();
        let refs: Vec<&[f32]> = beans.iter().map(Vec::as_slice).collect();
        let picks = propose(&refs, &[], 3);
        let cluster = |i: usize| {
            if i < 4 {
                0
            } else if i < 7 {
                1
            } else {
                2
            }
        };
        let mut first_two = [cluster(picks[0]), cluster(picks[1])];
        first_two.sort();
        assert_eq!(first_two, [0, 1], "{picks:?}");
        assert_eq!(cluster(picks[2]), 2, "{picks:?}");
        assert_eq!(picks, propose(&refs, &[], 3), "the same inputs give the same picks");

        let known = unit(0.03);
        let picks = propose(&refs, &[&known], 2);
        assert!(picks.iter().all(|&i| cluster(i) != 0), "a confirmed cluster is not asked again: {picks:?}");
    }

    #[test]
    fn never_more_than_the_beans_and_none_twice() {
        let beans: Vec<Vec<f32>> = [0.0, 0.0, 1.0].into_iter().map(unit).collect();
        let refs: Vec<&[f32]> = beans.iter().map(Vec::as_slice).collect();
        let mut picks = propose(&refs, &[], 10);
        assert_eq!(picks.len(), 3);
        picks.sort();
        assert_eq!(picks, [0, 1, 2]);
        assert!(propose(&[], &[], 4).is_empty());
    }
}
