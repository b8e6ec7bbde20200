//! The Normal-vs-defect gate: a logistic regression over reference embeddings, fitted on the
//! device from the references that vote (the bundle's and the grader's), every defect class
//! pooled against Normal. Once a grader has confirmed both Normal and defect beans of their own
//! camera it decides Normal vs defect, and the kNN vote names the defect: on a camera the net never
//! saw, a direction through the whole embedding carries further than the few nearest references
//! (`docs/results.md`, "Normal or defect: a gate fitted on the device").

use crate::lbfgs::dot;

/// Inverse strength of the weights' L2 penalty, against the summed loss of all references.
pub const INVERSE_PENALTY: f64 = 10.0;
/// How many times a confirmed bean counts in the fit against a bundled one: shot with the
/// grader's camera, a few of them must be able to turn a direction set by hundreds shot elsewhere
/// (as in the vote, `index::CONFIRMED_NEARER`; the replay in results.md chose 3 over 1 and 10).
pub const CONFIRMED_WEIGHT: f64 = 3.0;
/// Newton steps at most; a fit stops earlier once a step no longer moves the loss.
const MAX_STEPS: usize = 50;

/// `P(Normal | embedding) = σ(w·x + b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    weights: Vec<f64>,
    bias: f64,
}

impl Gate {
    /// Fits the gate to `rows` (embeddings of one length) labelled Normal (`true`) or defect,
    /// each row counting `weight` times, and each side as much as the other whatever their counts
    /// (scikit-learn's "balanced" class weights). None without both sides.
    pub fn fit(rows: &[&[f32]], normal: &[bool], weight: &[f64]) -> Option<Gate> {
        assert!(rows.len() == normal.len() && rows.len() == weight.len(), "one label and weight per row");
        let normals = normal.iter().filter(|&&n| n).count();
        if normals == 0 || normals == rows.len() {
            return None;
        }
        let dim = rows[0].len();
        let n = rows.len() as f64;
        // Balanced: each side's weights sum to n / 2.
        let side_weight = |is_normal: bool| n / 2.0 / if is_normal { normals as f64 } else { (rows.len() - normals) as f64 };
        let samples: Vec<(Vec<f64>, f64, f64)> = rows
            .iter()
            .zip(normal)
            .zip(weight)
            .map(|((r, &is), &w)| {
                let mut x: Vec<f64> = r.iter().map(|&v| f64::from(v)).collect();
                x.push(1.0); // the bias as a last weight
                (x, if is { 1.0 } else { 0.0 }, w * side_weight(is))
            })
            .collect();
        let mut theta = vec![0.0; dim + 1];
        let mut loss = objective(&samples, &theta);
        for _ in 0..MAX_STEPS {
            let step = newton_step(&samples, &theta)?;
            // Halve the step until the loss falls: a plain Newton step can overshoot.
            let mut scale = 1.0;
            let next = loop {
                let candidate: Vec<f64> = theta.iter().zip(&step).map(|(t, s)| t - scale * s).collect();
                let l = objective(&samples, &candidate);
                if l <= loss || scale < 1e-4 {
                    break (candidate, l);
                }
                scale /= 2.0;
            };
            let gained = loss - next.1;
            (theta, loss) = next;
            if gained < 1e-9 * loss.max(1.0) {
                break;
            }
        }
        let bias = theta.pop()?;
        Some(Gate { weights: theta, bias })
    }

    /// The probability that the bean with this embedding is Normal.
    pub fn normal_probability(&self, embedding: &[f32]) -> f32 {
        let z: f64 = self.weights.iter().zip(embedding).map(|(w, &x)| w * f64::from(x)).sum::<f64>() + self.bias;
        sigmoid(z) as f32
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Weighted log loss plus the penalty on the weights (not the bias, the last entry).
fn objective(samples: &[(Vec<f64>, f64, f64)], theta: &[f64]) -> f64 {
    let loss: f64 = samples
        .iter()
        .map(|(x, y, w)| {
            let z = dot(x, theta);
            // log(1 + e^z) − y·z, computed without overflow
            w * (z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z)
        })
        .sum();
    let penalty: f64 = theta[..theta.len() - 1].iter().map(|t| t * t).sum::<f64>() / (2.0 * INVERSE_PENALTY);
    loss + penalty
}

/// The Newton direction H⁻¹g of [`objective`] at `theta`; None if H is not positive definite.
fn newton_step(samples: &[(Vec<f64>, f64, f64)], theta: &[f64]) -> Option<Vec<f64>> {
    let d = theta.len();
    let mut gradient: Vec<f64> = theta.iter().map(|t| t / INVERSE_PENALTY).collect();
    let mut hessian = vec![0.0; d * d];
    for i in 0..d - 1 {
        hessian[i * d + i] = 1.0 / INVERSE_PENALTY;
    }
    gradient[d - 1] = 0.0;
    hessian[d * d - 1] = 1e-9; // keeps H definite should the bias not be pinned by the data
    for (x, y, w) in samples {
        let p = sigmoid(dot(x, theta));
        let (g, h) = (w * (p - y), w * p * (1.0 - p));
        for i in 0..d {
            gradient[i] += g * x[i];
            let hx = h * x[i];
            for j in 0..=i {
                hessian[i * d + j] += hx * x[j];
            }
        }
    }
    solve_cholesky(&mut hessian, d, gradient)
}

/// Solves A·s = b for a symmetric positive definite A whose lower triangle is filled in (A is
/// overwritten by its Cholesky factor).
fn solve_cholesky(a: &mut [f64], d: usize, mut b: Vec<f64>) -> Option<Vec<f64>> {
    for j in 0..d {
        let diagonal = a[j * d + j] - (0..j).map(|k| a[j * d + k] * a[j * d + k]).sum::<f64>();
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        let l = diagonal.sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            a[i * d + j] = (a[i * d + j] - (0..j).map(|k| a[i * d + k] * a[j * d + k]).sum::<f64>()) / l;
        }
    }
    for i in 0..d {
        b[i] = (b[i] - (0..i).map(|k| a[i * d + k] * b[k]).sum::<f64>()) / a[i * d + i];
    }
    for i in (0..d).rev() {
        b[i] = (b[i] - (i + 1..d).map(|k| a[k * d + i] * b[k]).sum::<f64>()) / a[i * d + i];
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // A = [[4, 2], [2, 3]] (lower triangle given), b = [2, 1] → s = [0.5, 0]
        let mut a = vec![4.0, 0.0, 2.0, 3.0];
        let s = solve_cholesky(&mut a, 2, vec![2.0, 1.0]).unwrap();
        assert!((s[0] - 0.5).abs() < 1e-12 && s[1].abs() < 1e-12, "{s:?}");
        assert!(solve_cholesky(&mut [0.0, 0.0, 0.0, 1.0], 2, vec![1.0, 1.0]).is_none());
    }

    /// Normal beans lie along +x, defects along −x with a spread in y, three times as many. The
    /// expected probabilities are scikit-learn's `LogisticRegression(C=10,
    /// class_weight="balanced")` fitted to the same points: the boundary lies half-way.
    #[test]
    fn the_gate_separates_normal_from_defect_whatever_their_counts() {
        let mut rows = Vec::new();
        let mut normal = Vec::new();
        for i in 0..40 {
            let y = (i as f32 * 0.37).sin() * 0.5;
            let is_normal = i % 4 == 0;
            let x = if is_normal { 0.4 + 0.1 * y } else { -0.4 + 0.1 * y };
            rows.push(vec![x, y]);
            normal.push(is_normal);
        }
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let gate = Gate::fit(&refs, &normal, &[1.0; 40]).unwrap();
        for (bean, expected) in [([0.3, 0.2], 0.8934), ([-0.3, -0.2], 0.1056), ([0.0, 0.0], 0.4986)] {
            let p = gate.normal_probability(&bean);
            assert!((p - expected).abs() < 1e-3, "{bean:?}: {p}, scikit-learn {expected}");
        }
        // Every fifth row counting three times (`sample_weight`), as confirmed beans do.
        let weight: Vec<f64> = (0..40).map(|i| if i % 5 == 0 { 3.0 } else { 1.0 }).collect();
        let gate = Gate::fit(&refs, &normal, &weight).unwrap();
        for (bean, expected) in [([0.3, 0.2], 0.9128), ([-0.3, -0.2], 0.0835), ([0.0, 0.0], 0.4942)] {
            let p = gate.normal_probability(&bean);
            assert!((p - expected).abs() < 1e-3, "weighed, {bean:?}: {p}, scikit-learn {expected}");
        }
    }

    #[test]
    fn no_gate_without_both_sides() {
        let rows = [[1.0f32, 0.0], [0.9, 0.1]];
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        assert!(Gate::fit(&refs, &[true, true], &[1.0; 2]).is_none());
        assert!(Gate::fit(&refs, &[false, false], &[1.0; 2]).is_none());
        assert!(Gate::fit(&[], &[], &[]).is_none());
    }
}
