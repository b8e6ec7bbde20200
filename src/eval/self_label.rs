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

/// One self-labelled photo as `RUN/self-labelled.json` lists it (`tune --pseudo-labels` reads it).
#[derive(serde::Serialize, serde::Deserialize)]
struct PseudoLabel {
    id: String,
    class: String,
}

/// The self-labelled references as a JSON list of `{id, class}`.
pub fn pseudo_labels_json(added: &ReferenceSet, class_names: &[String]) -> serde_json::Value {
    let list: Vec<PseudoLabel> = (0..added.len())
        .map(|i| PseudoLabel { id: added.ids[i].clone(), class: class_names[usize::from(added.labels[i])].clone() })
        .collect();
    serde_json::to_value(list).expect("plain strings")
}

/// Reads such a list: (row in `ids`, class) of each photo, in file order. Every id and class
/// must be known, and no photo listed twice.
pub fn read_pseudo_labels(path: &std::path::Path, ids: &[String], class_names: &[String]) -> anyhow::Result<Vec<(usize, u16)>> {
    use anyhow::{Context, bail};
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let list: Vec<PseudoLabel> =
        serde_json::from_str(&text).with_context(|| format!("{}: not a list of {{id, class}}", path.display()))?;
    let rows: std::collections::HashMap<&str, usize> = ids.iter().enumerate().map(|(r, id)| (id.as_str(), r)).collect();
    let mut seen = std::collections::HashSet::new();
    list.iter()
        .map(|p| {
            let Some(&row) = rows.get(p.id.as_str()) else {
                bail!("{}: photo {:?} is not in this split", path.display(), p.id);
            };
            let Some(class) = class_names.iter().position(|c| *c == p.class) else {
                bail!("{}: class {:?} is not one of {}", path.display(), p.class, class_names.join(", "));
            };
            if !seen.insert(row) {
                bail!("{}: photo {:?} is listed twice", path.display(), p.id);
            }
            Ok((row, class as u16))
        })
        .collect()
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
    fn pseudo_labels_round_trip_and_bad_files_are_refused() {
        let classes = vec!["Normal".to_string(), "Broken".to_string()];
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let mut added = ReferenceSet::new(2);
        added.push(&unit(0.0), 1, "c".into()).unwrap();
        added.push(&unit(1.0), 0, "a".into()).unwrap();
        let dir = std::env::temp_dir().join(format!("beanscan-pseudo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("self-labelled.json");
        std::fs::write(&path, pseudo_labels_json(&added, &classes).to_string()).unwrap();
        assert_eq!(read_pseudo_labels(&path, &ids, &classes).unwrap(), vec![(2, 1), (0, 0)]);
        for (bad, says) in [
            (r#"[{"id":"z","class":"Normal"}]"#, "not in this split"),
            (r#"[{"id":"a","class":"Sour"}]"#, "not one of Normal, Broken"),
            (r#"[{"id":"a","class":"Normal"},{"id":"a","class":"Broken"}]"#, "listed twice"),
            (r#"{"a":"Normal"}"#, "not a list"),
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = format!("{:#}", read_pseudo_labels(&path, &ids, &classes).unwrap_err());
            assert!(err.contains(says), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
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
