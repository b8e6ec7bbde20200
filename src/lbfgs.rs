//! Limited-memory BFGS: minimises a smooth convex function from its value and gradient. For fits
//! made on the device whose Hessian would be too large to solve at every step (the defect head's
//! weights, [`crate::defect_head`]); the gate's 129 weights take Newton steps instead.

use std::collections::VecDeque;

/// When to stop.
#[derive(Debug, Clone, Copy)]
pub struct Stop {
    /// Iterations at most: a bound on the time a fit takes on a phone.
    pub iterations: usize,
    /// Done once no entry of the gradient exceeds this.
    pub gradient: f64,
}

/// Corrections kept: the usual 10.
const MEMORY: usize = 10;
/// Armijo's sufficient-decrease factor for the backtracking line search.
const ARMIJO: f64 = 1e-4;

/// The point where `value_and_gradient(x, gradient)` (it returns f(x) and writes ∇f(x)) is
/// least, searched from `start`.
pub fn minimise(mut value_and_gradient: impl FnMut(&[f64], &mut [f64]) -> f64, start: Vec<f64>, stop: Stop) -> Vec<f64> {
    let n = start.len();
    let mut x = start;
    let mut gradient = vec![0.0; n];
    let mut value = value_and_gradient(&x, &mut gradient);
    // (s, y, 1 / y·s) of the latest steps, oldest first
    let mut history: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(MEMORY);
    let (mut next, mut next_gradient) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..stop.iterations {
        if gradient.iter().all(|g| g.abs() <= stop.gradient) {
            break;
        }
        let mut direction = descent_direction(&gradient, &history);
        let mut slope = dot(&gradient, &direction);
        if slope >= 0.0 {
            // The curvature pairs no longer describe f here: start again from steepest descent.
            history.clear();
            direction = gradient.iter().map(|g| -g).collect();
            slope = -dot(&gradient, &gradient);
        }
        // The first step has no curvature to scale it: one of unit length.
        let mut step = if history.is_empty() { 1.0 / dot(&direction, &direction).sqrt().max(1.0) } else { 1.0 };
        let next_value = loop {
            for i in 0..n {
                next[i] = x[i] + step * direction[i];
            }
            let v = value_and_gradient(&next, &mut next_gradient);
            if v <= value + ARMIJO * step * slope {
                break v;
            }
            step /= 2.0;
            if step < 1e-12 {
                return x; // no step lowers f: as close as f64 gets
            }
        };
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_gradient.iter().zip(&gradient).map(|(a, b)| a - b).collect();
        let ys = dot(&y, &s);
        if ys > 1e-12 {
            if history.len() == MEMORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / ys));
        }
        std::mem::swap(&mut x, &mut next);
        std::mem::swap(&mut gradient, &mut next_gradient);
        value = next_value;
    }
    x
}

/// −H·g by the two-loop recursion, H the inverse Hessian that `history` implies.
fn descent_direction(gradient: &[f64], history: &VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut d: Vec<f64> = gradient.iter().map(|g| -g).collect();
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let alpha = rho * dot(s, &d);
        d.iter_mut().zip(y).for_each(|(d, y)| *d -= alpha * y);
        alphas.push(alpha);
    }
    if let Some((s, y, _)) = history.back() {
        let gamma = dot(s, y) / dot(y, y);
        d.iter_mut().for_each(|d| *d *= gamma);
    }
    for ((s, y, rho), alpha) in history.iter().zip(alphas.iter().rev()) {
        let beta = rho * dot(y, &d);
        d.iter_mut().zip(s).for_each(|(d, s)| *d += (alpha - beta) * s);
    }
    d
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ill-conditioned quadratic (condition number 10⁴) and Rosenbrock's valley: both reach
    /// their known minimum.
    #[test]
    fn finds_the_minimum_of_known_functions() {
        let scales = [1.0, 10.0, 100.0, 1e4];
        let quadratic = |x: &[f64], g: &mut [f64]| {
            let mut f = 0.0;
            for i in 0..4 {
                let r = x[i] - i as f64;
                g[i] = scales[i] * r;
                f += 0.5 * scales[i] * r * r;
            }
            f
        };
        let x = minimise(quadratic, vec![5.0; 4], Stop { iterations: 200, gradient: 1e-9 });
        for (i, v) in x.iter().enumerate() {
            assert!((v - i as f64).abs() < 1e-6, "{x:?}");
        }
        let rosenbrock = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (1.0 - x[0], x[1] - x[0] * x[0]);
            g[0] = -2.0 * a - 400.0 * x[0] * b;
            g[1] = 200.0 * b;
            a * a + 100.0 * b * b
        };
        let x = minimise(rosenbrock, vec![-1.2, 1.0], Stop { iterations: 500, gradient: 1e-10 });
        assert!((x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5, "{x:?}");
    }

    #[test]
    fn stops_after_the_iterations_allowed() {
        let mut calls = 0;
        let f = |x: &[f64], g: &mut [f64]| {
            calls += 1;
            g[0] = 2.0 * x[0];
            x[0] * x[0]
        };
        minimise(f, vec![3.0], Stop { iterations: 0, gradient: 0.0 });
        assert_eq!(calls, 1, "only the starting point is evaluated");
    }
}
