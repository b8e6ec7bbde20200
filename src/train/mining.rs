//! Triplet mining and losses. The pure functions on distance matrices define which triplets each
//! strategy picks (and are unit-tested on hand-made matrices); the tensor losses compute the same
//! thing differentiably over a batch.

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

/// How triplets are chosen in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mining {
    /// Every valid (anchor, positive, negative) triplet with a positive loss.
    All,
    /// Per anchor, the farthest positive and the nearest negative.
    Hard,
    /// Batch-hard with the gap divided by the mean hardest-negative distance, so shrinking the
    /// whole embedding space cannot lower the loss (guards against collapse).
    HardGuarded,
}

/// Per anchor: (anchor, hardest positive, hardest negative); anchors lacking either are skipped.
pub fn batch_hard_triplets(dist: &[f32], labels: &[u16]) -> Vec<(usize, usize, usize)> {
    let n = labels.len();
    (0..n)
        .filter_map(|a| {
            let pos = (0..n).filter(|&j| j != a && labels[j] == labels[a]);
            let neg = (0..n).filter(|&j| labels[j] != labels[a]);
            let p = pos.max_by(|&x, &y| dist[a * n + x].total_cmp(&dist[a * n + y]))?;
            let q = neg.min_by(|&x, &y| dist[a * n + x].total_cmp(&dist[a * n + y]))?;
            Some((a, p, q))
        })
        .collect()
}

/// All valid triplets whose hinge loss with `margin` is positive.
pub fn batch_all_triplets(dist: &[f32], labels: &[u16], margin: f32) -> Vec<(usize, usize, usize)> {
    let n = labels.len();
    let mut out = Vec::new();
    for a in 0..n {
        for p in (0..n).filter(|&p| p != a && labels[p] == labels[a]) {
            for q in (0..n).filter(|&q| labels[q] != labels[a]) {
                if dist[a * n + p] - dist[a * n + q] + margin > 0.0 {
                    out.push((a, p, q));
                }
            }
        }
    }
    out
}

/// Euclidean distances between all rows of unit-length embeddings, [B, B].
pub fn pairwise_distances(e: Tensor<2>) -> Tensor<2> {
    let gram = e.clone().matmul(e.transpose());
    (gram.mul_scalar(-2.0).add_scalar(2.0)).clamp_min(1e-12).sqrt()
}

/// Masks [B, B]: same class (excluding the diagonal) and different class, as 0/1 floats.
fn label_masks(labels: &[u16], device: &Device) -> (Tensor<2>, Tensor<2>) {
    let n = labels.len();
    let mut same = vec![0.0f32; n * n];
    let mut diff = vec![0.0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            if labels[i] == labels[j] {
                if i != j {
                    same[i * n + j] = 1.0;
                }
            } else {
                diff[i * n + j] = 1.0;
            }
        }
    }
    let t = |v| Tensor::<2>::from_data(TensorData::new(v, [n, n]), device);
    (t(same), t(diff))
}

/// Triplet loss over a batch of unit-length embeddings.
pub fn triplet_loss(e: Tensor<2>, labels: &[u16], mining: Mining, margin: f32) -> Tensor<1> {
    let device = e.device();
    let n = labels.len();
    let dist = pairwise_distances(e);
    let (same, diff) = label_masks(labels, &device);
    match mining {
        Mining::Hard | Mining::HardGuarded => {
            let hardest_pos = (dist.clone() * same).max_dim(1);
            // Push same-class pairs out of the min by adding a large constant.
            let hardest_neg = (dist + (diff.neg().add_scalar(1.0)).mul_scalar(1e4)).min_dim(1);
            let gap = hardest_pos - hardest_neg.clone();
            let gap = if mining == Mining::HardGuarded { gap / hardest_neg.mean().reshape([1, 1]) } else { gap };
            relu(gap.add_scalar(margin)).mean()
        }
        Mining::All => {
            let ap: Tensor<3> = dist.clone().reshape([n, n, 1]);
            let an: Tensor<3> = dist.reshape([n, 1, n]);
            let valid: Tensor<3> = same.reshape([n, n, 1]) * diff.reshape([n, 1, n]);
            let losses = relu((ap - an).add_scalar(margin)) * valid;
            let active = losses.clone().greater_elem(1e-16).float().sum();
            losses.sum() / active.clamp_min(1.0)
        }
    }
}

/// Label-free contrastive loss (InfoNCE) over unit-length embeddings of `2n` rows, where row
/// `i` and row `i + n` show the same bean: each row must pick out its partner among the other
/// `2n - 1` rows by cosine similarity times `scale`.
pub fn pair_contrastive_loss(e: Tensor<2>, scale: f32) -> Tensor<1> {
    let device = e.device();
    let rows = e.dims()[0];
    assert!(rows.is_multiple_of(2) && rows >= 4, "pairs of rows, two pairs or more");
    let n = rows / 2;
    let similarity = e.clone().matmul(e.transpose()).mul_scalar(scale);
    // A row is not its own partner: its self-similarity is pushed out of the softmax.
    let mut eye = vec![0.0f32; rows * rows];
    (0..rows).for_each(|i| eye[i * rows + i] = 1e4);
    let logits = similarity - Tensor::<2>::from_data(TensorData::new(eye, [rows, rows]), &device);
    let partners: Vec<i64> = (0..rows).map(|i| ((i + n) % rows) as i64).collect();
    let targets = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(partners, [rows]), &device);
    burn::nn::loss::CrossEntropyLossConfig::new().init(&device).forward(logits, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Four points on a line at 0, 1, 3, 4 with labels A A B B.
    fn line() -> (Vec<f32>, Vec<u16>) {
        let x = [0.0f32, 1.0, 3.0, 4.0];
        let dist = (0..16).map(|k| (x[k / 4] - x[k % 4]).abs()).collect();
        (dist, vec![0, 0, 1, 1])
    }

    #[test]
    fn batch_hard_picks_farthest_positive_and_nearest_negative() {
        let (dist, labels) = line();
        assert_eq!(batch_hard_triplets(&dist, &labels), vec![(0, 1, 2), (1, 0, 2), (2, 3, 1), (3, 2, 1)]);
    }

    #[test]
    fn batch_all_keeps_only_violating_triplets() {
        let (dist, labels) = line();
        // margin 1.5: only anchor 1 vs negative 2 (1 - 2 + 1.5 > 0), and anchor 2 vs negative 1.
        assert_eq!(batch_all_triplets(&dist, &labels, 1.5), vec![(1, 0, 2), (2, 3, 1)]);
        assert_eq!(batch_all_triplets(&dist, &labels, 10.0).len(), 8);
    }

    fn embeddings(device: &Device) -> (Tensor<2>, Vec<u16>) {
        let angles = [0.0f32, 0.3, 1.2, 1.6, 2.9, 3.1];
        let v: Vec<f32> = angles.iter().flat_map(|a| [a.cos(), a.sin()]).collect();
        (Tensor::from_data(TensorData::new(v, [6, 2]), device), vec![0, 0, 1, 1, 2, 2])
    }

    fn reference_loss(e: &Tensor<2>, labels: &[u16], margin: f32, guarded: bool) -> f32 {
        let dist: Vec<f32> = pairwise_distances(e.clone()).into_data().try_to_vec::<f32>().unwrap();
        let n = labels.len();
        let triplets = batch_hard_triplets(&dist, labels);
        let mean_neg = triplets.iter().map(|t| dist[t.0 * n + t.2]).sum::<f32>() / n as f32;
        triplets
            .iter()
            .map(|&(a, p, q)| {
                let gap = dist[a * n + p] - dist[a * n + q];
                (if guarded { gap / mean_neg } else { gap } + margin).max(0.0)
            })
            .sum::<f32>()
            / n as f32
    }

    #[test]
    fn tensor_losses_match_the_mined_triplets() {
        let device = Device::flex();
        let (e, labels) = embeddings(&device);
        for (mining, guarded) in [(Mining::Hard, false), (Mining::HardGuarded, true)] {
            let got: f32 = triplet_loss(e.clone(), &labels, mining, 0.5).into_scalar();
            let want = reference_loss(&e, &labels, 0.5, guarded);
            assert!((got - want).abs() < 1e-4, "{mining:?}: {got} vs {want}");
        }
        let dist: Vec<f32> = pairwise_distances(e.clone()).into_data().try_to_vec::<f32>().unwrap();
        let all = batch_all_triplets(&dist, &labels, 0.5);
        let want = all.iter().map(|&(a, p, q)| dist[a * 6 + p] - dist[a * 6 + q] + 0.5).sum::<f32>() / all.len() as f32;
        let got: f32 = triplet_loss(e, &labels, Mining::All, 0.5).into_scalar();
        assert!((got - want).abs() < 1e-4, "all: {got} vs {want}");
    }

    #[test]
    fn collapsed_embeddings_pin_plain_loss_at_the_margin() {
        let device = Device::flex();
        let e = Tensor::<2>::from_data(TensorData::new([1.0f32, 0.0].repeat(4), [4, 2]), &device);
        let loss: f32 = triplet_loss(e, &[0, 0, 1, 1], Mining::Hard, 0.3).into_scalar();
        assert!((loss - 0.3).abs() < 1e-3, "{loss}");
    }

    /// Against the definition: −log softmax of the partner's similarity, rows averaged; a
    /// batch whose partners are the nearest rows scores lower than the same rows mispaired.
    #[test]
    fn pair_loss_rewards_finding_the_partner() {
        let device = Device::flex();
        let angles = [0.0f32, 1.6, 3.2, 4.8, 0.2, 1.8, 3.4, 5.0];
        let rows: Vec<f32> = angles.iter().flat_map(|a| [a.cos(), a.sin()]).collect();
        let e = Tensor::<2>::from_data(TensorData::new(rows.clone(), [8, 2]), &device);
        let got: f32 = pair_contrastive_loss(e, 5.0).into_scalar();
        let cos = |i: usize, j: usize| (angles[i] - angles[j]).cos() * 5.0;
        let want = (0..8)
            .map(|i| {
                let others: f32 = (0..8).filter(|&j| j != i).map(|j| cos(i, j).exp()).sum();
                others.ln() - cos(i, (i + 4) % 8)
            })
            .sum::<f32>()
            / 8.0;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        // The same rows with the second half rolled by one: partners are no longer the nearest.
        let order = [0, 1, 2, 3, 5, 6, 7, 4];
        let mispaired: Vec<f32> = order.iter().flat_map(|&i| rows[2 * i..2 * i + 2].to_vec()).collect();
        let worse: f32 =
            pair_contrastive_loss(Tensor::<2>::from_data(TensorData::new(mispaired, [8, 2]), &device), 5.0).into_scalar();
        assert!(worse > got + 1.0, "{worse} vs {got}");
    }
}
