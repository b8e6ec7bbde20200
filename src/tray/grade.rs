//! Grading a sample in the Specialty Coffee Association's terms.
//!
//! Defect equivalents: SCA, "Washed Arabica Green Coffee Defect" poster / Arabica Green Coffee
//! Defect Handbook (2018), "Table of Defect Equivalents": how many beans of a defect make one
//! full defect. Category 1 (primary): full black 1, full sour 1, dried cherry/pod 1, fungus
//! damaged 1, foreign matter 1, severe insect damage 5. Category 2 (secondary): partial black 3,
//! partial sour 3, parchment/pergamino 5, floater 5, immature/unripe 5, withered 5, shell 5,
//! broken/chipped/cut 5, hull/husk 5, slight insect damage 10.
//!
//! Grades: the same poster's specialty grade (green sample of 350 g: no category 1 defect and at
//! most 5 full category 2 defects) and, below it, the SCAA Green Coffee Classification's grades by
//! full defects: premium ≤ 8, exchange 9–23, below standard 24–86, off grade > 86.

use serde::Serialize;

/// Standard sample mass for green-coffee defect counts, grams.
pub const SAMPLE_GRAMS: f32 = 350.0;
/// Mass of one green arabica bean, grams (typically 0.12–0.20 g): turns a photo's bean count into
/// a share of the 350 g sample. Only used for the scaled estimate, never for the counts.
pub const BEAN_GRAMS: f32 = 0.15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Primary,
    Secondary,
}

/// How a class counts: its SCA defect, category, and beans per full defect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DefectRule {
    pub sca_defect: &'static str,
    pub category: Category,
    pub beans_per_full_defect: u32,
}

/// Data sets' names (the SCA table's, spelt as Thai spells them) for classes the shipped bundle
/// names otherwise: its Black, Sour and Insect-damaged read as these rows ([`rule_for`]). Every
/// other name is kept (Partial-black, Severe-insect-damage, USK's Defect).
pub const SHIPPED_NAMES: [(&str, &str); 3] =
    [("Full-black", "Black"), ("Full-sour", "Sour"), ("Slight-insect-damage", "Insect-damaged")];

/// A data set's class name as the shipped bundle names it ([`SHIPPED_NAMES`]).
pub fn shipped_name(label: &str) -> &str {
    SHIPPED_NAMES.iter().find(|(theirs, _)| *theirs == label).map_or(label, |(_, ours)| ours)
}

/// The SCA rule for one of our class names; `None` for Normal and for classes the SCA table has
/// no entry for (Over-dried, Faded). The shipped names keep the reading a grader would check
/// first: Black and Sour as full (category 1), Insect-damaged as slight (category 2, under three
/// perforations, the common case); fissured beans count as cut. Classes a grader adds under the
/// table's own names (Partial-black, Severe-insect-damage, Husk, Cut: Thai's spelling) count as
/// their rows.
pub fn rule_for(class: &str) -> Option<DefectRule> {
    use Category::*;
    let rule = |sca_defect, category, beans_per_full_defect| DefectRule { sca_defect, category, beans_per_full_defect };
    Some(match class {
        "Black" => rule("Full Black", Primary, 1),
        "Sour" => rule("Full Sour", Primary, 1),
        "Fungus-damaged" => rule("Fungus Damaged", Primary, 1),
        "Foreign-matter" => rule("Foreign Matter", Primary, 1),
        "Dried-cherry" => rule("Dried Cherry/Pod", Primary, 1),
        "Severe-insect-damage" => rule("Severe Insect Damage", Primary, 5),
        "Partial-black" => rule("Partial Black", Secondary, 3),
        "Partial-sour" => rule("Partial Sour", Secondary, 3),
        "Insect-damaged" => rule("Slight Insect Damage", Secondary, 10),
        "Broken" | "Chipped" | "Cut" | "Fissure" => rule("Broken/Chipped/Cut", Secondary, 5),
        "Shell" => rule("Shell", Secondary, 5),
        "Immature" => rule("Immature/Unripe", Secondary, 5),
        "Floater" => rule("Floater", Secondary, 5),
        "Parchment" => rule("Parchment/Pergamino", Secondary, 5),
        "Withered" => rule("Withered", Secondary, 5),
        "Hull" | "Husk" => rule("Hull/Husk", Secondary, 5),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Specialty,
    Premium,
    Exchange,
    BelowStandard,
    OffGrade,
}

impl Grade {
    /// The grade for full-defect counts in a 350 g sample.
    pub fn from_full_defects(primary: f32, secondary: f32) -> Self {
        let total = primary + secondary;
        if primary < 1.0 && secondary <= 5.0 {
            Grade::Specialty
        } else if total <= 8.0 {
            Grade::Premium
        } else if total <= 23.0 {
            Grade::Exchange
        } else if total <= 86.0 {
            Grade::BelowStandard
        } else {
            Grade::OffGrade
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Grade::Specialty => "Specialty",
            Grade::Premium => "Premium",
            Grade::Exchange => "Exchange",
            Grade::BelowStandard => "Below standard",
            Grade::OffGrade => "Off grade",
        }
    }
}

/// One defect class's share of the grading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefectLine {
    pub class: String,
    pub sca_defect: &'static str,
    pub category: Category,
    pub beans: u32,
    /// Whole full defects (beans ÷ beans per full defect, rounded down, as the table is used).
    pub full_defects: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grading {
    pub lines: Vec<DefectLine>,
    /// Beans whose class the SCA table has no entry for (e.g. Over-dried), by class.
    pub not_in_table: Vec<(String, u32)>,
    pub primary_full_defects: u32,
    pub secondary_full_defects: u32,
    /// Full defects this sample's proportions would give in a 350 g sample.
    pub primary_per_sample: f32,
    pub secondary_per_sample: f32,
    /// Grade of the scaled 350 g counts; `sample_grams` says how much coffee was actually seen.
    pub grade: Grade,
    pub sample_grams: f32,
}

/// Grades labelled beans given as (class, count) pairs; unknown beans are left out by the caller.
pub fn grade(counts: &[(String, u32)]) -> Grading {
    let mut lines = Vec::new();
    let mut not_in_table = Vec::new();
    let mut beans = 0;
    for (class, n) in counts {
        beans += n;
        match rule_for(class) {
            Some(rule) if *n > 0 => lines.push(DefectLine {
                class: class.clone(),
                sca_defect: rule.sca_defect,
                category: rule.category,
                beans: *n,
                full_defects: n / rule.beans_per_full_defect,
            }),
            None if class != "Normal" && *n > 0 => not_in_table.push((class.clone(), *n)),
            _ => {}
        }
    }
    let sum = |c: Category| lines.iter().filter(|l| l.category == c).map(|l| l.full_defects).sum::<u32>();
    // Scaled counts use the fractional equivalents: 3 broken beans in a photo of 150 are 0.6
    // full defects here and ≈ 9.3 in 350 g.
    let scaled = |c: Category| {
        let equivalents: f32 = lines
            .iter()
            .filter(|l| l.category == c)
            .map(|l| l.beans as f32 / rule_for(&l.class).map_or(1, |r| r.beans_per_full_defect) as f32)
            .sum::<f32>()
            + 0.0; // an empty float sum is -0.0, which prints as "-0.0"
        if beans == 0 { 0.0 } else { equivalents * SAMPLE_GRAMS / (beans as f32 * BEAN_GRAMS) }
    };
    let (primary_per_sample, secondary_per_sample) = (scaled(Category::Primary), scaled(Category::Secondary));
    Grading {
        primary_full_defects: sum(Category::Primary),
        secondary_full_defects: sum(Category::Secondary),
        grade: Grade::from_full_defects(primary_per_sample, secondary_per_sample),
        primary_per_sample,
        secondary_per_sample,
        sample_grams: beans as f32 * BEAN_GRAMS,
        lines,
        not_in_table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u32)]) -> Vec<(String, u32)> {
        pairs.iter().map(|(c, n)| (c.to_string(), *n)).collect()
    }

    #[test]
    fn the_table_turns_beans_into_full_defects() {
        let g = grade(&counts(&[("Normal", 2000), ("Black", 2), ("Broken", 11), ("Insect-damaged", 9), ("Shell", 5)]));
        assert_eq!(g.primary_full_defects, 2);
        // 11 broken → 2, 9 slight insect → 0, 5 shells → 1.
        assert_eq!(g.secondary_full_defects, 3);
        assert_eq!(g.lines.len(), 4);
    }

    /// Each data-set name joins the shipped class whose SCA row it names.
    #[test]
    fn shipped_names_follow_the_table() {
        for (theirs, ours) in SHIPPED_NAMES {
            let row = rule_for(ours).unwrap().sca_defect.to_lowercase().replace(' ', "-");
            assert_eq!(row, theirs.to_lowercase(), "{ours}");
            assert_eq!(shipped_name(theirs), ours);
        }
        assert_eq!(shipped_name("Partial-black"), "Partial-black");
    }

    /// Classes a grader adds (Thai's names) count as their SCA rows do.
    #[test]
    fn the_sca_names_beyond_the_bundles_count_as_their_rows() {
        let g = grade(&counts(&[
            ("Normal", 500),
            ("Partial-black", 3),
            ("Partial-sour", 6),
            ("Severe-insect-damage", 5),
            ("Husk", 5),
            ("Cut", 5),
        ]));
        assert_eq!(g.primary_full_defects, 1, "5 severe insect-damaged beans");
        assert_eq!(g.secondary_full_defects, 1 + 2 + 1 + 1);
        assert!(g.not_in_table.is_empty(), "{:?}", g.not_in_table);
        let faded = grade(&counts(&[("Normal", 10), ("Faded", 2)]));
        assert_eq!(faded.not_in_table, vec![("Faded".to_string(), 2)]);
    }

    #[test]
    fn any_primary_defect_rules_out_specialty() {
        // ≈ 2,333 beans in 350 g: one black bean among them is one primary full defect.
        let g = grade(&counts(&[("Normal", 2332), ("Black", 1)]));
        assert!((g.primary_per_sample - 1.0).abs() < 0.01, "{}", g.primary_per_sample);
        assert_eq!(g.grade, Grade::Premium);
        let clean = grade(&counts(&[("Normal", 2300), ("Immature", 20)]));
        assert_eq!(clean.grade, Grade::Specialty, "20 immature beans are 4 secondary full defects");
    }

    #[test]
    fn a_category_with_no_beans_is_plain_zero() {
        let g = grade(&counts(&[("Normal", 100), ("Black", 1)]));
        assert_eq!(format!("{:.1}", g.secondary_per_sample), "0.0");
        assert!(g.secondary_per_sample.is_sign_positive());
    }

    #[test]
    fn grade_bands_follow_the_classification() {
        assert_eq!(Grade::from_full_defects(0.0, 5.0), Grade::Specialty);
        assert_eq!(Grade::from_full_defects(0.0, 6.0), Grade::Premium);
        assert_eq!(Grade::from_full_defects(3.0, 5.0), Grade::Premium);
        assert_eq!(Grade::from_full_defects(4.0, 19.0), Grade::Exchange);
        assert_eq!(Grade::from_full_defects(20.0, 66.0), Grade::BelowStandard);
        assert_eq!(Grade::from_full_defects(80.0, 7.0), Grade::OffGrade);
    }

    #[test]
    fn classes_outside_the_table_are_listed_not_graded() {
        let g = grade(&counts(&[("Normal", 10), ("Over-dried", 3)]));
        assert_eq!(g.not_in_table, vec![("Over-dried".to_string(), 3)]);
        assert!(g.lines.is_empty());
    }
}
