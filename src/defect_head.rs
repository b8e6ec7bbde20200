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
/// where they count at all ([`DefectHead::fit_with_traits`]).
pub const TRAIT_WEIGHT: f64 = 0.1;
/// Folds of the grader's beans the choice to weigh traits is made on.
const FOLDS: usize = 5;

/// Names a defect from a bean's embedding; where the grader's beans show that their traits tell
/// their own kinds apart, a bean named one of those kinds is named again among them, weighing
/// its traits too.
#[derive(Debug, Clone, PartialEq)]
pub struct DefectHead {
    /// Over every defect class fitted on, from the embedding alone.
    plain: Linear,
    /// Over the kinds the grader confirmed, from the embedding and the scaled traits, fitted on
    /// the grader's beans alone: the bundle's, shot elsewhere, have no traits to weigh.
    own_kinds: Option<(TraitScale, Linear)>,
}

/// `P(class | x) = softmax(W·x + b)` over the classes it was fitted on.
#[derive(Debug, Clone, PartialEq)]
struct Linear {
    /// The class of each row of `weights`.
    classes: Vec<u16>,
    /// One row of `x.len() + 1` per class, the bias last.
    weights: Vec<f64>,
}

/// Traits standardised on the grader's beans, then weighed by [`TRAIT_WEIGHT`]. A bean without
/// traits counts as average.
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
        let inputs = plain_inputs(rows);
        let plain = Linear::fit(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>(), labels, weight, None)?;
        Some(DefectHead { plain, own_kinds: None })
    }

    /// [`Self::fit`], and where the rows with traits (the grader's; None: a bundle reference)
    /// show that their traits tell their kinds apart, a second head fitted on those rows alone
    /// that weighs them too. Each fifth of the grader's rows is left out of both fits, and the second
    /// head is kept where the pair names more of those left out right than the first alone (a
    /// tie: not kept). On a camera the net never saw, a bean's colour and size tell defects apart
    /// that its embedding runs together; on the rigs it was trained on they add noise, and over
    /// kinds the grader has not confirmed, they would pull beans towards those confirmed.
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
        let plain = plain_inputs(rows);
        // The second head's inputs, by row: only the grader's rows have any, as only they are taken.
        let with: Vec<Vec<f64>> =
            rows.iter().zip(traits).map(|(r, t)| t.map_or_else(Vec::new, |t| scale.input(r, Some(t)))).collect();
        // The two heads fitted to the rows `keep` takes; a fold's fits start from `from`'s.
        let fit = |keep: &dyn Fn(usize) -> bool, from: Option<&(Linear, Linear)>| {
            let pick = |set: &[usize], inputs: &[Vec<f64>], start: Option<&Linear>| {
                let set: Vec<usize> = set.iter().copied().filter(|&i| keep(i)).collect();
                let x: Vec<&[f64]> = set.iter().map(|&i| inputs[i].as_slice()).collect();
                let (l, w): (Vec<u16>, Vec<f64>) = set.iter().map(|&i| (labels[i], weight[i])).unzip();
                Linear::fit(&x, &l, &w, start)
            };
            let all: Vec<usize> = (0..rows.len()).collect();
            Some((pick(&all, &plain, from.map(|f| &f.0))?, pick(&own, &with, from.map(|f| &f.1))?))
        };
        let full = fit(&|_| true, None)?;
        let (mut alone_right, mut paired_right) = (0, 0);
        for fold in 0..FOLDS {
            let mut held = vec![false; rows.len()];
            own.iter().skip(fold).step_by(FOLDS).for_each(|&i| held[i] = true);
            let Some((first, second)) = fit(&|i| !held[i], Some(&full)) else { continue };
            for i in (0..rows.len()).filter(|&i| held[i]) {
                alone_right += usize::from(first.name(&plain[i]).0 == labels[i]);
                paired_right += usize::from(name_in_two(&first, Some(&second), &plain[i], &with[i]).0 == labels[i]);
            }
        }
        let (plain, second) = full;
        Some(DefectHead { plain, own_kinds: (paired_right > alone_right).then_some((scale, second)) })
    }

    /// Whether the head weighs traits, over the kinds the grader confirmed.
    pub fn weighs_traits(&self) -> bool {
        self.own_kinds.is_some()
    }

    /// The likeliest defect for this embedding and its probability.
    pub fn name(&self, embedding: &[f32]) -> (u16, f32) {
        self.name_bean(embedding, None)
    }

    /// [`Self::name`] for a bean with its traits, if it has any; where traits are weighed, a bean
    /// without them counts as average.
    pub fn name_bean(&self, embedding: &[f32], traits: Option<&[f32]>) -> (u16, f32) {
        let plain = plain_inputs(&[embedding]).remove(0);
        match &self.own_kinds {
            Some((scale, second)) => name_in_two(&self.plain, Some(second), &plain, &scale.input(embedding, traits)),
            None => self.plain.name(&plain),
        }
    }
}

/// `first`'s name for a bean, named again by `second` where `first` names one of its classes.
fn name_in_two(first: &Linear, second: Option<&Linear>, plain: &[f64], with: &[f64]) -> (u16, f32) {
    let named = first.name(plain);
    match second {
        Some(s) if s.classes.contains(&named.0) => s.name(with),
        _ => named,
    }
}

fn plain_inputs(rows: &[&[f32]]) -> Vec<Vec<f64>> {
    rows.iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect()
}

impl Linear {
    /// Fitted to `inputs`; None with fewer than two classes. A fold's fit starts from `from`, the
    /// fit on every row (zero for a class it lacks), and stops at [`FOLD_STOP`].
    fn fit(inputs: &[&[f64]], labels: &[u16], weight: &[f64], from: Option<&Linear>) -> Option<Linear> {
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
                let row =
                    from.and_then(|h| h.classes.iter().position(|k| k == c).map(|j| &h.weights[j * width..(j + 1) * width]));
                row.map_or_else(|| vec![0.0; width], <[f64]>::to_vec)
            })
            .collect();
        let weights = lbfgs::minimise(objective, start, if from.is_some() { FOLD_STOP } else { STOP });
        Some(Linear { classes, weights })
    }

    /// The likeliest class for `input` and its probability.
    fn name(&self, input: &[f64]) -> (u16, f32) {
        let x: Vec<f64> = input.iter().copied().chain([1.0]).collect();
        let scores: Vec<f64> = self.weights.chunks(x.len()).map(|w| lbfgs::dot(w, &x)).collect();
        let p = softmax(&scores);
        let (best, probability) = p.iter().enumerate().fold((0, 0.0), |a, (i, &q)| if q > a.1 { (i, q) } else { a });
        (self.classes[best], probability as f32)
    }
}

struct Sample {
    /// The embedding with a 1 appended for the bias.
    x: Vec<f64>,
    /// Its class's position in [`Linear::classes`].
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

    /// Traits tell apart only the kinds the grader confirmed: a bean the embedding puts among a
    /// kind only the bundle holds keeps that name, whatever its traits.
    #[test]
    fn traits_rename_only_among_the_kinds_confirmed() {
        let (mut rows, traits, mut labels) = beans(10, [[0.5, 0.5], [0.5, 0.5]], true);
        let mut traits: Vec<Option<&[f32]>> = traits.iter().map(|t| Some(t.as_slice())).collect();
        for i in 0..10 {
            let wobble = ((i as f32) * 0.9).sin() * 0.05;
            rows.push(vec![0.5 + wobble, 0.25 - wobble]);
            traits.push(None);
            labels.push(7);
        }
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let head = DefectHead::fit_with_traits(&refs, &traits, &labels, &[1.0; 30]).unwrap();
        assert!(head.weighs_traits());
        let mut second = vec![0.0; TRAITS];
        second[0] = 1.0;
        assert_eq!(head.name_bean(&[0.5, 0.5], Some(&second)).0, 6);
        second[0] = 3.0; // a bean of that kind on this camera may look like neither confirmed kind
        assert_eq!(head.name_bean(&[0.5, 0.25], Some(&second)).0, 7, "a bundle-only kind stays");
    }

    /// The second head learns from the grader's beans alone: the bundle's beans of the same kinds,
    /// shot elsewhere and without traits, leave it as it is.
    #[test]
    fn the_second_head_is_fitted_on_the_graders_beans_alone() {
        let (rows, traits, labels) = beans(10, [[0.5, 0.5], [0.5, 0.5]], true);
        let mut refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let mut with: Vec<Option<&[f32]>> = traits.iter().map(|t| Some(t.as_slice())).collect();
        let mut labels = labels;
        let alone = DefectHead::fit_with_traits(&refs, &with, &labels, &[1.0; 20]).unwrap();
        let bundle = [[0.9f32, 0.1], [0.1, 0.9], [0.8, 0.3]];
        for (i, b) in bundle.iter().enumerate() {
            refs.push(b);
            with.push(None);
            labels.push(5 + (i % 2) as u16);
        }
        let beside = DefectHead::fit_with_traits(&refs, &with, &labels, &[1.0; 23]).unwrap();
        assert!(alone.weighs_traits() && beside.weighs_traits());
        assert_eq!(alone.own_kinds, beside.own_kinds);
        assert_ne!(alone.plain, beside.plain);
    }

    /// A fold's fit, started from the fit on every row and stopped at the looser bound, names
    /// beans as a fit from zero does, with probabilities within 0.01.
    #[test]
    fn a_fold_fit_from_the_full_fit_names_as_one_from_zero() {
        let (rows, _, mut labels) = beans(15, [[1.0, 0.2], [0.3, 1.0]], false);
        labels.iter_mut().step_by(3).for_each(|l| *l = 9); // a third kind among them
        let inputs: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
        let all: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
        let full = Linear::fit(&all, &labels, &[1.0; 30], None).unwrap();
        let fold = |from| Linear::fit(&all[..24], &labels[..24], &[1.0; 24], from).unwrap();
        let (cold, warm) = (fold(None), fold(Some(&full)));
        assert_ne!(cold, full);
        for bean in &all {
            let ((c, p), (w, q)) = (cold.name(bean), warm.name(bean));
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
