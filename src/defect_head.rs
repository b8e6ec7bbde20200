//! Naming the defect: a multinomial logistic regression over the defect references' embeddings,
//! fitted on the device once the grader has confirmed beans of two kinds of defect. On a camera
//! the net never saw, a bean's nearest defect references are mostly the bundle's, shot
//! elsewhere; a linear split of the whole embedding, set by the grader's few beans and the
//! bundle's many, names defects better (`docs/results.md`, "Naming the defect").

use crate::lbfgs::{self, Stop};
use crate::traits::TRAITS;

/// Inverse strength of the weights' L2 penalty against the summed loss of all references. The
/// replay in results.md chose 30: as good as 100 on a camera the net never saw, and never below
/// the vote on the rigs it was trained for (100 was, on r2).
pub const INVERSE_PENALTY: f64 = 30.0;
/// Bounds the fit's time on a phone; the replay's fits settle in 100–160.
const STOP: Stop = Stop { iterations: 300, gradient: 1e-5 };
/// A fold's fit only names the beans it left out: from the fit on every row it settles to this
/// in 15–35 iterations (60 to [`STOP`]'s bound).
const FOLD_STOP: Stop = Stop { iterations: 300, gradient: 1e-4 };

/// How much a bean's standardised traits ([`crate::traits`]) count beside its unit embedding,
/// where they count at all: [`DefectHead::fit_with_traits`] chooses between none and this.
pub const TRAIT_WEIGHT: f64 = 0.1;
/// Folds of the grader's beans that choice is made on.
const FOLDS: usize = 5;

/// `P(class | x) = softmax(W·x + b)` over the defect classes it was fitted on; `x` is the
/// embedding, followed by the bean's scaled traits where the head weighs them.
#[derive(Debug, Clone, PartialEq)]
pub struct DefectHead {
    /// The class of each row of `weights`.
    classes: Vec<u16>,
    /// One row of `dim + 1` per class (`dim + TRAITS + 1` with traits), the bias last.
    weights: Vec<f64>,
    /// How traits become inputs, where the head weighs them.
    traits: Option<TraitScale>,
}

/// Traits standardised on the grader's beans, then weighed by [`TRAIT_WEIGHT`]. A bean without
/// traits (the bundle's references) counts as average.
#[derive(Debug, Clone, PartialEq)]
struct TraitScale {
    mean: [f64; TRAITS],
    sd: [f64; TRAITS],
}

impl TraitScale {
    fn of(traits: &[&[f32]]) -> TraitScale {
        let n = traits.len() as f64;
        let mut mean = [0.0; TRAITS];
        let mut sd = [0.0; TRAITS];
        for t in traits {
            (0..TRAITS).for_each(|i| mean[i] += f64::from(t[i]) / n);
        }
        for t in traits {
            (0..TRAITS).for_each(|i| sd[i] += (f64::from(t[i]) - mean[i]).powi(2) / n);
        }
        TraitScale { mean, sd: sd.map(|v| v.sqrt().max(1e-6)) }
    }

    /// The head's input for a bean: its embedding, then its weighed standard scores.
    fn input(&self, embedding: &[f32], traits: Option<&[f32]>) -> Vec<f64> {
        let mut x: Vec<f64> = embedding.iter().map(|&v| f64::from(v)).collect();
        match traits {
            Some(t) => x.extend((0..TRAITS).map(|i| TRAIT_WEIGHT * (f64::from(t[i]) - self.mean[i]) / self.sd[i])),
            None => x.extend([0.0; TRAITS]),
        }
        x
    }
}

impl DefectHead {
    /// Fits the head to `rows` (embeddings of one length) labelled with their class, each row
    /// counting `weight` times. None with fewer than two classes.
    pub fn fit(rows: &[&[f32]], labels: &[u16], weight: &[f64]) -> Option<DefectHead> {
        assert!(rows.len() == labels.len() && rows.len() == weight.len(), "one label and weight per row");
        let inputs: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
        fit_inputs(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>(), labels, weight, None)
    }

    /// [`Self::fit`], weighing the rows' traits (None: a bundle reference) too where that names
    /// the grader's beans better: each fifth of the rows with traits is left out of a fit with
    /// and without them, and the fit naming more of those left out right is kept (a tie: none).
    /// On a camera the net never saw, a bean's colour and size tell defects apart that its
    /// embedding runs together; on the rigs it was trained on, they add noise.
    pub fn fit_with_traits(rows: &[&[f32]], traits: &[Option<&[f32]>], labels: &[u16], weight: &[f64]) -> Option<DefectHead> {
        assert!(rows.len() == traits.len(), "traits or None per row");
        let own: Vec<usize> = (0..rows.len()).filter(|&i| traits[i].is_some()).collect();
        let mut kinds: Vec<u16> = own.iter().map(|&i| labels[i]).collect();
        kinds.sort_unstable();
        kinds.dedup();
        if own.len() < FOLDS || kinds.len() < 2 {
            return Self::fit(rows, labels, weight);
        }
        let scale = TraitScale::of(&own.iter().map(|&i| traits[i].expect("own rows have traits")).collect::<Vec<_>>());
        let plain: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
        let with: Vec<Vec<f64>> = rows.iter().zip(traits).map(|(r, t)| scale.input(r, *t)).collect();
        let (plain, with) =
            (plain.iter().map(Vec::as_slice).collect::<Vec<_>>(), with.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let plain_head = fit_inputs(&plain, labels, weight, None)?;
        let with_head = fit_inputs(&with, labels, weight, None)?;
        // A fold's fit starts from the fit on every row: a few rows away from its own optimum.
        let held_right = |inputs: &[&[f64]], full: &DefectHead| {
            (0..FOLDS)
                .map(|fold| {
                    let mut held = vec![false; rows.len()];
                    own.iter().skip(fold).step_by(FOLDS).for_each(|&i| held[i] = true);
                    let keep: Vec<usize> = (0..rows.len()).filter(|&i| !held[i]).collect();
                    let fitted = fit_inputs(
                        &keep.iter().map(|&i| inputs[i]).collect::<Vec<_>>(),
                        &keep.iter().map(|&i| labels[i]).collect::<Vec<_>>(),
                        &keep.iter().map(|&i| weight[i]).collect::<Vec<_>>(),
                        Some(full),
                    );
                    fitted.map_or(0, |head| {
                        (0..rows.len()).filter(|&i| held[i] && head.name_input(inputs[i]).0 == labels[i]).count()
                    })
                })
                .sum::<usize>()
        };
        if held_right(&with, &with_head) <= held_right(&plain, &plain_head) {
            return Some(plain_head);
        }
        Some(DefectHead { traits: Some(scale), ..with_head })
    }

    /// Whether the head weighs traits beside the embedding.
    pub fn weighs_traits(&self) -> bool {
        self.traits.is_some()
    }

    /// The likeliest defect for this embedding and its probability.
    pub fn name(&self, embedding: &[f32]) -> (u16, f32) {
        self.name_bean(embedding, None)
    }

    /// [`Self::name`] for a bean with its traits, if it has any; a head that weighs traits takes
    /// a bean without them as average.
    pub fn name_bean(&self, embedding: &[f32], traits: Option<&[f32]>) -> (u16, f32) {
        match &self.traits {
            Some(scale) => self.name_input(&scale.input(embedding, traits)),
            None => self.name_input(&embedding.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()),
        }
    }

    fn name_input(&self, input: &[f64]) -> (u16, f32) {
        let x: Vec<f64> = input.iter().copied().chain([1.0]).collect();
        let p = softmax(&self.scores(&x));
        let (best, probability) = p.iter().enumerate().fold((0, 0.0), |a, (i, &q)| if q > a.1 { (i, q) } else { a });
        (self.classes[best], probability as f32)
    }

    fn scores(&self, x: &[f64]) -> Vec<f64> {
        self.weights.chunks(x.len()).map(|w| lbfgs::dot(w, x)).collect()
    }
}

/// A head (without traits) fitted to `inputs`; None with fewer than two classes. A fold's fit
/// starts from `from`, the fit on every row (zero for a class it lacks), and stops at
/// [`FOLD_STOP`].
fn fit_inputs(inputs: &[&[f64]], labels: &[u16], weight: &[f64], from: Option<&DefectHead>) -> Option<DefectHead> {
    let mut classes = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() < 2 {
        return None;
    }
    let width = inputs[0].len() + 1;
    let samples: Vec<Sample> = inputs
        .iter()
        .zip(labels)
        .zip(weight)
        .map(|((x, label), &w)| {
            let x = x.iter().copied().chain([1.0]).collect(); // the bias as a last weight
            Sample { x, class: classes.binary_search(label).expect("a class of its own"), weight: w }
        })
        .collect();
    // Loss and penalty divided by the summed weight: the stopping rule then reads the same
    // whatever the number of references.
    let total: f64 = weight.iter().sum();
    let objective = |theta: &[f64], gradient: &mut [f64]| loss(&samples, theta, width, total, gradient);
    let start = classes
        .iter()
        .flat_map(|c| {
            let row = from.and_then(|h| h.classes.iter().position(|k| k == c).map(|j| &h.weights[j * width..(j + 1) * width]));
            row.map_or_else(|| vec![0.0; width], <[f64]>::to_vec)
        })
        .collect();
    let weights = lbfgs::minimise(objective, start, if from.is_some() { FOLD_STOP } else { STOP });
    Some(DefectHead { classes, weights, traits: None })
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

    /// Beans of two kinds, `n` each: embeddings `[x, y]` around the kind's centre, traits whose
    /// first value is 1 for the second kind (`telling`) or noise.
    fn beans(n: usize, centres: [[f32; 2]; 2], telling: bool) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<u16>) {
        let (mut rows, mut traits, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..2 * n {
            let kind = i % 2;
            let wobble = ((i as f32) * 1.7).sin() * 0.2;
            rows.push(vec![centres[kind][0] + wobble, centres[kind][1] - wobble]);
            let mut t = vec![((i as f32) * 2.3).cos(); TRAITS];
            if telling {
                t[0] = kind as f32 + 0.1 * wobble;
            }
            traits.push(t);
            labels.push(kind as u16 + 5);
        }
        (rows, traits, labels)
    }

    fn fit(rows: &[Vec<f32>], traits: &[Vec<f32>], labels: &[u16]) -> DefectHead {
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let traits: Vec<Option<&[f32]>> = traits.iter().map(|t| Some(t.as_slice())).collect();
        DefectHead::fit_with_traits(&refs, &traits, labels, &vec![1.0; rows.len()]).unwrap()
    }

    #[test]
    fn traits_count_where_they_tell_kinds_apart_that_embeddings_run_together() {
        let (rows, traits, labels) = beans(10, [[0.5, 0.5], [0.5, 0.5]], true);
        let head = fit(&rows, &traits, &labels);
        assert!(head.weighs_traits());
        let mut second = vec![0.0; TRAITS];
        second[0] = 1.0;
        assert_eq!(head.name_bean(&[0.5, 0.5], Some(&second)).0, 6);
        second[0] = 0.0;
        assert_eq!(head.name_bean(&[0.5, 0.5], Some(&second)).0, 5);
    }

    #[test]
    fn traits_that_tell_nothing_are_left_out() {
        let (rows, traits, labels) = beans(10, [[1.0, 0.0], [0.0, 1.0]], false);
        let head = fit(&rows, &traits, &labels);
        assert!(!head.weighs_traits());
        assert_eq!(head, DefectHead::fit(&rows.iter().map(Vec::as_slice).collect::<Vec<_>>(), &labels, &[1.0; 20]).unwrap());
        // Too few beans with traits to choose on: none.
        let few: Vec<Option<&[f32]>> = (0..20).map(|i| (i < 3).then_some(traits[i].as_slice())).collect();
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        assert!(!DefectHead::fit_with_traits(&refs, &few, &labels, &[1.0; 20]).unwrap().weighs_traits());
    }

    /// A fold's fit, started from the fit on every row and stopped at the looser bound, names
    /// beans as a fit from zero does, with probabilities within 0.01.
    #[test]
    fn a_fold_fit_from_the_full_fit_names_as_one_from_zero() {
        let (rows, _, mut labels) = beans(15, [[1.0, 0.2], [0.3, 1.0]], false);
        labels.iter_mut().step_by(3).for_each(|l| *l = 9); // a third kind among them
        let inputs: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
        let all: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
        let full = fit_inputs(&all, &labels, &[1.0; 30], None).unwrap();
        let fold = |from| fit_inputs(&all[..24], &labels[..24], &[1.0; 24], from).unwrap();
        let (cold, warm) = (fold(None), fold(Some(&full)));
        assert_ne!(cold, full);
        for bean in &all {
            let ((c, p), (w, q)) = (cold.name_input(bean), warm.name_input(bean));
            assert!(c == w && (p - q).abs() < 0.01, "{bean:?}: {c} {p} from zero, {w} {q} from the full fit");
        }
    }

    #[test]
    fn no_head_with_one_class() {
        let rows = [[1.0f32, 0.0], [0.9, 0.1]];
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        assert!(DefectHead::fit(&refs, &[2, 2], &[1.0; 2]).is_none());
        assert!(DefectHead::fit(&[], &[], &[]).is_none());
    }
}
