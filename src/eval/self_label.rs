//! Self-labelled references: with few labelled beans, unlabelled photos that the labelled
//! references agree on become references too (the method's "confidently labelled photos are
//! added as new references", done once over a folder of unlabelled photos). No label of those
//! photos is read.

use crate::index::{Index, ReferenceSet};

/// The unlabelled photos whose `k` nearest labelled references all carry one class, as new
/// references: per class at most `per_class` of them, those nearest their neighbours first
/// (mean distance to the `k`).
pub fn self_labelled(refs: &ReferenceSet, unlabelled: &[Vec<f32>], ids: &[String], k: usize, per_class: usize) -> ReferenceSet {
    let index = Index::new(refs.clone(), None);
    // (mean distance, photo, class) of every unanimous photo.
    let mut agreed: Vec<(f32, usize, u16)> = unlabelled
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let hits = index.search(e, k);
            let label = hits.first()?.label;
            (hits.len() == k && hits.iter().all(|h| h.label == label))
                .then(|| (hits.iter().map(|h| h.distance).sum::<f32>() / k as f32, i, label))
        })
        .collect();
    agreed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut added = ReferenceSet::new(refs.dim);
    for (_, i, label) in super::first_per_class(agreed, |a| a.2, per_class) {
        added.push(&unlabelled[i], label, ids[i].clone()).expect("one embedding size");
    }
    added
}

/// `a` followed by `b`.
pub fn joined(a: &ReferenceSet, b: &ReferenceSet) -> ReferenceSet {
    let mut set = a.clone();
    for i in 0..b.len() {
        set.push(b.row(i), b.labels[i], b.ids[i].clone()).expect("one embedding size");
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin()]
    }

    fn refs(points: &[(f32, u16)]) -> ReferenceSet {
        let mut set = ReferenceSet::new(2);
        for (i, &(a, l)) in points.iter().enumerate() {
            set.push(&unit(a), l, format!("r{i}")).unwrap();
        }
        set
    }

    #[test]
    fn only_unanimous_photos_join_nearest_first_up_to_the_cap() {
        // Class 0 around angle 0, class 1 around angle 2.
        let labelled = refs(&[(0.0, 0), (0.1, 0), (0.2, 0), (2.0, 1), (2.1, 1), (2.2, 1)]);
        let photos = [unit(0.1), unit(0.18), unit(1.1), unit(2.2), unit(0.05)];
        let ids: Vec<String> = (0..photos.len()).map(|i| format!("p{i}")).collect();
        let added = self_labelled(&labelled, &photos, &ids, 3, 2);
        // p2 sits between the classes (its 3 neighbours disagree); class 0 keeps the two of
        // p0, p1, p4 nearest their neighbours; the order is by that mean distance.
        assert_eq!(added.ids, ["p0", "p4", "p3"]);
        assert_eq!(added.labels, [0, 0, 1]);
        assert_eq!(added.row(2), unit(2.2).as_slice());
        let all = joined(&labelled, &added);
        assert_eq!(all.len(), 9);
        assert_eq!(all.ids[6], "p0");
    }

    #[test]
    fn fewer_references_than_k_add_nothing() {
        let labelled = refs(&[(0.0, 0), (0.1, 0)]);
        assert!(self_labelled(&labelled, &[unit(0.05)], &["p".into()], 3, 5).is_empty());
    }
}
