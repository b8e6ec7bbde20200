//! Native-only evaluation, used by the CLI (not by training): classification and retrieval
//! metrics, the method study, leaving one camera out, evaluation on annotated tray photos, scenes of real beans on real surfaces for
//! measuring bean finding, and calibrating the unknown threshold.

pub mod cameras;
pub mod metrics;
pub mod scenes;
pub mod self_label;
pub mod study;
pub mod tray_eval;
pub mod unknown;

/// The first `per_class` items of each class, in the order given (the rest dropped).
pub fn first_per_class<T>(items: impl IntoIterator<Item = T>, class: impl Fn(&T) -> u16, per_class: usize) -> Vec<T> {
    let mut taken = std::collections::HashMap::<u16, usize>::new();
    items
        .into_iter()
        .filter(|item| {
            let n = taken.entry(class(item)).or_default();
            *n += 1;
            *n <= per_class
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_per_class_keeps_order_and_caps_each_class() {
        let labels = [0u16, 1, 0, 0, 2, 1, 1];
        let kept = super::first_per_class(0..labels.len(), |&r| labels[r], 2);
        assert_eq!(kept, vec![0, 1, 2, 4, 5]);
        assert!(super::first_per_class(0..labels.len(), |&r| labels[r], 0).is_empty());
    }
}
