//! "This camera or light is new to beanscan": said of a batch of single-bean photos or of a tray
//! when its beans sit, as a rule, farther from every reference than beans of a camera the
//! references came from do. The bound is the single-bean unknown threshold (the distance within
//! which 95 % of known photos lie): a camera's beans have their median nearest reference under it
//! once a few of that camera's beans are references (measured on USK, Thai and tray beans:
//! medians 0.25–0.37), and above it with only another camera's references (0.51–0.68;
//! `docs/results.md`, "A camera new to beanscan"). The page applies the same rule
//! (`www/notice.js`).

/// What the page and the command line say when [`unfamiliar`] holds.
pub const NEW_CAMERA: &str =
    "This camera or light is new to beanscan: confirm a few beans of each kind before trusting the grade.";

/// True when the median of `distances` (each bean's distance to its nearest reference) is beyond
/// `bound`; false for no beans.
pub fn unfamiliar(distances: &[f32], bound: f32) -> bool {
    median(distances).is_some_and(|m| m > bound)
}

/// The median of finite values (the mean of the middle two for an even count).
pub fn median(values: &[f32]) -> Option<f32> {
    let mut v: Vec<f32> = values.iter().copied().filter(|d| d.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_beans_beyond_the_bound_make_it_unfamiliar() {
        assert!(!unfamiliar(&[], 0.4));
        assert!(!unfamiliar(&[0.3, 0.35, 0.9], 0.4), "one far bean is a defect nobody labelled, not a camera");
        assert!(unfamiliar(&[0.3, 0.5, 0.9], 0.4));
        assert!(!unfamiliar(&[0.3, 0.5], 0.4), "median 0.4 is not beyond 0.4");
        assert!(unfamiliar(&[0.3, 0.52], 0.4));
        assert_eq!(median(&[f32::NAN, 0.2, 0.6, 0.4]), Some(0.4));
        assert_eq!(median(&[f32::NAN]), None);
    }
}
