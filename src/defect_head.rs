//! Naming the defect: a multinomial logistic regression over the defect references' embeddings,
//! fitted on the device once the grader has confirmed beans of two kinds of defect. On a camera
//! the net never saw, a bean's nearest defect references are mostly the bundle's, shot
//! elsewhere; a linear split of the whole embedding, set by the grader's few beans and the
//! bundle's many, names defects better (`docs/results.md`, "Naming the defect").

use crate::lbfgs::{self, Stop};

/// Inverse strength of the weights' L2 penalty against the summed loss of all references. The
/// replay in results.md chose 30: as good as 100 on a camera the net never saw, and never below
/// the vote on the rigs it was trained for (100 was, on r2).
pub const INVERSE_PENALTY: f64 = 30.0;
/// Bounds the fit's time on a phone; the replay's fits settle in 100–160.
const STOP: Stop = Stop { iterations: 300, gradient: 1e-5 };

/// `P(class | x) = softmax(W·x + b)` over the defect classes it was fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct DefectHead {
    /// The class of each row of `weights`.
    classes: Vec<u16>,
    /// One row of `dim + 1` per class, the bias last.
    weights: Vec<f64>,
}

impl DefectHead {
    /// Fits the head to `rows` (embeddings of one length) labelled with their class, each row
    /// counting `weight` times. None with fewer than two classes.
    pub fn fit(rows: &[&[f32]], labels: &[u16], weight: &[f64]) -> Option<DefectHead> {
        assert!(rows.len() == labels.len() && rows.len() == weight.len(), "one label and weight per row");
        let mut classes = labels.to_vec();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return None;
        }
        let width = rows[0].len() + 1;
        let samples: Vec<Sample> = rows
            .iter()
            .zip(labels)
            .zip(weight)
            .map(|((r, label), &w)| {
                let mut x: Vec<f64> = r.iter().map(|&v| f64::from(v)).collect();
                x.push(1.0); // the bias as a last weight
                Sample { x, class: classes.binary_search(label).expect("a class of its own"), weight: w }
            })
            .collect();
        // Loss and penalty divided by the summed weight: the stopping rule then reads the same
        // whatever the number of references.
        let total: f64 = weight.iter().sum();
        let objective = |theta: &[f64], gradient: &mut [f64]| loss(&samples, theta, width, total, gradient);
        let weights = lbfgs::minimise(objective, vec![0.0; classes.len() * width], STOP);
        Some(DefectHead { classes, weights })
    }

    /// The likeliest defect for this embedding and its probability.
    pub fn name(&self, embedding: &[f32]) -> (u16, f32) {
        let x: Vec<f64> = embedding.iter().map(|&v| f64::from(v)).chain([1.0]).collect();
        let p = softmax(&self.scores(&x));
        let (best, probability) = p.iter().enumerate().fold((0, 0.0), |a, (i, &q)| if q > a.1 { (i, q) } else { a });
        (self.classes[best], probability as f32)
    }

    fn scores(&self, x: &[f64]) -> Vec<f64> {
        self.weights.chunks(x.len()).map(|w| lbfgs::dot(w, x)).collect()
    }
}

struct Sample {
    /// The embedding with a 1 appended for the bias.
    x: Vec<f64>,
    /// Its class's position in [`DefectHead::classes`].
    class: usize,
    weight: f64,
}

/// The weighted cross-entropy plus the penalty on the weights (not the biases), over `total`;
/// writes its gradient.
fn loss(samples: &[Sample], theta: &[f64], width: usize, total: f64, gradient: &mut [f64]) -> f64 {
    let penalty_scale = 1.0 / (INVERSE_PENALTY * total);
    let mut value = 0.0;
    for (i, (g, t)) in gradient.iter_mut().zip(theta).enumerate() {
        let is_bias = (i + 1) % width == 0;
        *g = if is_bias { 0.0 } else { t * penalty_scale };
        value += if is_bias { 0.0 } else { 0.5 * t * t * penalty_scale };
    }
    for s in samples {
        let scores: Vec<f64> = theta.chunks(width).map(|w| lbfgs::dot(w, &s.x)).collect();
        let p = softmax(&scores);
        let w = s.weight / total;
        value -= w * p[s.class].max(f64::MIN_POSITIVE).ln();
        for (c, (g, pc)) in gradient.chunks_mut(width).zip(&p).enumerate() {
            let d = w * (pc - if c == s.class { 1.0 } else { 0.0 });
            g.iter_mut().zip(&s.x).for_each(|(g, x)| *g += d * x);
        }
    }
    value
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes around three directions, the third rarer. The expected probabilities are
    /// scikit-learn's `LogisticRegression(C=30)` (multinomial) fitted to the same points.
    #[test]
    fn the_head_matches_a_multinomial_logistic_regression() {
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..30 {
            let class = [0u16, 1, 2, 0, 1][i % 5];
            let a = (i as f32 * 0.37).sin() * 0.3;
            let centre = [(0.5, 0.0), (-0.3, 0.4), (-0.2, -0.5)][usize::from(class)];
            rows.push(vec![centre.0 + a * 0.5, centre.1 + a]);
            // Class numbers need not be consecutive: the head keeps them as given.
            labels.push(class * 3 + 1);
        }
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let expect = |head: &DefectHead, cases: [([f32; 2], u16, f32); 3]| {
            for (bean, class, probability) in cases {
                let (c, p) = head.name(&bean);
                assert_eq!(c, class, "{bean:?}");
                assert!((p - probability).abs() < 1e-3, "{bean:?}: {p}, scikit-learn {probability}");
            }
        };
        let head = DefectHead::fit(&refs, &labels, &[1.0; 30]).unwrap();
        expect(&head, [([0.3, 0.1], 1, 0.8981), ([-0.1, 0.1], 4, 0.7117), ([0.0, -0.3], 7, 0.7387)]);
        // Every fourth row counting three times (`sample_weight`), as confirmed beans do.
        let weight: Vec<f64> = (0..30).map(|i| if i % 4 == 0 { 3.0 } else { 1.0 }).collect();
        let head = DefectHead::fit(&refs, &labels, &weight).unwrap();
        expect(&head, [([0.3, 0.1], 1, 0.9192), ([-0.1, 0.1], 4, 0.7355), ([0.0, -0.3], 7, 0.7189)]);
    }

    #[test]
    fn no_head_with_one_class() {
        let rows = [[1.0f32, 0.0], [0.9, 0.1]];
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        assert!(DefectHead::fit(&refs, &[2, 2], &[1.0; 2]).is_none());
        assert!(DefectHead::fit(&[], &[], &[]).is_none());
    }
}
