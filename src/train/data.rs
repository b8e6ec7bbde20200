//! Labelled bean photos on disk: a folder with `manifest.csv` (see shared/data/README.md) or a
//! plain folder of class folders. Rows are grouped by bean so both faces stay on one side of
//! every split and every label budget.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use image::RgbImage;

use super::progress::progress;
use crate::preprocess::{self, PreprocessParams};

/// One photo of one face of a bean.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub path: PathBuf,
    /// Index into [`Dataset::class_names`].
    pub label: u16,
    pub bean: String,
    pub round: String,
    /// False where the annotators said this face does not show the class: unlabelled.
    pub label_applies: bool,
    pub split: String,
}

impl Sample {
    /// The id a reference made from this photo carries: `BEAN/FACE` (e.g. `r1-Black-000/000U`).
    pub fn reference_id(&self) -> String {
        format!("{}/{}", self.bean, self.path.file_stem().map(|f| f.to_string_lossy().to_string()).unwrap_or_default())
    }
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub class_names: Vec<String>,
    pub samples: Vec<Sample>,
}

/// Class order used by the shipped bundle; unknown extra classes are appended in sorted order.
pub const GREENCOFFEE_CLASSES: [&str; 12] = [
    "Normal",
    "Black",
    "Sour",
    "Broken",
    "Insect-damaged",
    "Fungus-damaged",
    "Shell",
    "Immature",
    "Fissure",
    "Over-dried",
    "Floater",
    "Foreign-matter",
];

impl Dataset {
    /// Reads `dir/manifest.csv` if present, else treats `dir` as class folders.
    pub fn open(dir: &Path) -> Result<Self> {
        if dir.join("manifest.csv").is_file() { Self::from_manifest(dir) } else { Self::from_class_folders(dir) }
    }

    pub fn from_manifest(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.csv");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let (dataset, lines) = parse_rows(&text, dir).with_context(|| format!("in {}", path.display()))?;
        // A missing photo is a broken manifest: say which rows, before any time is spent decoding.
        let missing: Vec<(usize, &Sample)> =
            lines.iter().zip(&dataset.samples).filter(|(_, s)| !s.path.is_file()).map(|(&n, s)| (n, s)).collect();
        if let Some(&(n, first)) = missing.first() {
            let shown: Vec<String> = missing.iter().take(10).map(|(n, _)| n.to_string()).collect();
            let more = if missing.len() > 10 { ", …" } else { "" };
            bail!(
                "{}: line {n}: photo {} does not exist ({} row(s) point at missing files, lines {}{more}); \
                 fix the paths or remove those rows",
                path.display(),
                first.path.display(),
                missing.len(),
                shown.join(", ")
            );
        }
        Ok(dataset)
    }

    /// `dir/CLASS/*.jpg|png`: each photo is its own bean, all in split "train".
    pub fn from_class_folders(dir: &Path) -> Result<Self> {
        let mut rows = Vec::new();
        let mut classes: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        classes.sort_by_key(|e| e.file_name());
        for class in classes {
            let name = class.file_name().to_string_lossy().to_string();
            let mut files: Vec<_> = std::fs::read_dir(class.path())?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            let before = rows.len();
            for file in files.into_iter().filter(|p| is_photo(p)) {
                let stem = file.file_stem().unwrap_or_default().to_string_lossy().to_string();
                rows.push((name.clone(), format!("{name}/{stem}"), file));
            }
            if rows.len() == before {
                bail!(
                    "class folder {} has no photos (.jpg, .jpeg or .png): add photos or remove the folder",
                    class.path().display()
                );
            }
        }
        if rows.is_empty() {
            bail!("{} has no manifest.csv and no class folders with photos", dir.display());
        }
        let class_names = class_order(rows.iter().map(|r| r.0.as_str()));
        let samples = rows
            .into_iter()
            .map(|(class, bean, path)| Sample {
                label: class_index(&class_names, &class),
                path,
                bean,
                round: String::new(),
                label_applies: true,
                split: "train".into(),
            })
            .collect();
        Ok(Self { class_names, samples })
    }

    /// Rows of one split (all rows for `None`).
    pub fn split(&self, name: Option<&str>) -> Dataset {
        let samples = self.samples.iter().filter(|s| name.is_none_or(|n| s.split == n)).cloned().collect();
        Dataset { class_names: self.class_names.clone(), samples }
    }

    /// Bean ids in first-seen order with the rows of each.
    pub fn beans(&self) -> Vec<(String, Vec<usize>)> {
        let mut order = Vec::new();
        let mut rows: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in self.samples.iter().enumerate() {
            rows.entry(&s.bean)
                .or_insert_with(|| {
                    order.push(s.bean.clone());
                    Vec::new()
                })
                .push(i);
        }
        order
            .into_iter()
            .map(|b| {
                let r = rows[b.as_str()].clone();
                (b, r)
            })
            .collect()
    }
}

fn is_photo(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(), Some("jpg" | "jpeg" | "png"))
}

fn class_order<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen: Vec<String> = names.map(str::to_string).collect();
    seen.sort();
    seen.dedup();
    let mut out: Vec<String> =
        GREENCOFFEE_CLASSES.iter().filter(|c| seen.iter().any(|s| s == *c)).map(|c| c.to_string()).collect();
    out.extend(seen.into_iter().filter(|s| !GREENCOFFEE_CLASSES.contains(&s.as_str())));
    out
}

fn class_index(names: &[String], name: &str) -> u16 {
    names.iter().position(|n| n == name).expect("class listed") as u16
}

/// Parses manifest text; errors name the offending line.
pub fn parse_manifest(text: &str, root: &Path) -> Result<Dataset> {
    parse_rows(text, root).map(|(dataset, _)| dataset)
}

/// [`parse_manifest`] plus the 1-based line number of each sample.
fn parse_rows(text: &str, root: &Path) -> Result<(Dataset, Vec<usize>)> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { bail!("manifest is empty") };
    let columns: Vec<&str> = header.trim().split(',').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(path_c), Some(label_c)) = (col("path"), col("label")) else {
        bail!("line 1: manifest header must have at least `path` and `label` columns, got `{header}`");
    };
    let (bean_c, round_c, applies_c, split_c) = (col("bean"), col("round"), col("label_applies"), col("split"));
    let mut rows = Vec::new();
    let mut line_numbers = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        line_numbers.push(n);
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() != columns.len() {
            bail!("line {n}: expected {} fields, found {}: `{line}`", columns.len(), fields.len());
        }
        let get = |c: Option<usize>| c.map(|c| fields[c].trim().to_string());
        let path = fields[path_c].trim();
        let label = fields[label_c].trim();
        if path.is_empty() || label.is_empty() {
            bail!("line {n}: empty path or label: `{line}`");
        }
        let label_applies = match get(applies_c).as_deref() {
            None | Some("1") => true,
            Some("0") => false,
            Some(other) => bail!("line {n}: label_applies must be 0 or 1, got `{other}`"),
        };
        rows.push((
            label.to_string(),
            Sample {
                path: root.join(path),
                label: 0,
                bean: get(bean_c).unwrap_or_else(|| path.to_string()),
                round: get(round_c).unwrap_or_default(),
                label_applies,
                split: get(split_c).unwrap_or_else(|| "train".into()),
            },
        ));
    }
    if rows.is_empty() {
        bail!("manifest has a header but no rows");
    }
    let class_names = class_order(rows.iter().map(|r| r.0.as_str()));
    // A class whose every row says the label does not apply has nothing to learn from.
    let empty: Vec<&str> = class_names
        .iter()
        .filter(|c| !rows.iter().any(|(label, s)| label == *c && s.label_applies))
        .map(String::as_str)
        .collect();
    if !empty.is_empty() {
        bail!(
            "class(es) {} have no row with label_applies = 1: label at least one photo of each class or drop the class",
            empty.join(", ")
        );
    }
    let samples = rows
        .into_iter()
        .map(|(label, mut s)| {
            s.label = class_index(&class_names, &label);
            s
        })
        .collect();
    Ok((Dataset { class_names, samples }, line_numbers))
}

/// Which photos a step reads: one split of a data folder, optionally one collection round.
#[derive(Debug, Clone)]
pub struct DataSource {
    /// Folder with manifest.csv, or a folder of class folders.
    pub data: PathBuf,
    pub split: String,
    /// Only rows of this collection round (manifest column `round`, e.g. r1).
    pub round: Option<String>,
}

impl DataSource {
    /// The rows of this split (and round); an error when there are none.
    pub fn open(&self) -> Result<Dataset> {
        let mut dataset = Dataset::open(&self.data)?.split(Some(&self.split));
        if let Some(round) = &self.round {
            dataset.samples.retain(|s| &s.round == round);
        }
        if dataset.samples.is_empty() {
            bail!(
                "no rows with split `{}`{} in {}",
                self.split,
                self.round.as_ref().map(|r| format!(" and round `{r}`")).unwrap_or_default(),
                self.data.display()
            );
        }
        Ok(dataset)
    }

    /// The same folder and round, another split.
    pub fn with_split(&self, split: &str) -> DataSource {
        DataSource { split: split.to_string(), ..self.clone() }
    }
}

/// Every labelled face of the dataset, decoded at model size.
pub fn labelled_photos(dataset: &Dataset, params: &PreprocessParams) -> crate::eval::study::Labelled {
    let rows: Vec<usize> = (0..dataset.samples.len()).filter(|&r| dataset.samples[r].label_applies).collect();
    let cache = load_images(dataset, &rows, params);
    let sample = |r: usize| &dataset.samples[r];
    crate::eval::study::Labelled {
        labels: cache.rows.iter().map(|&r| sample(r).label).collect(),
        beans: cache.rows.iter().map(|&r| sample(r).bean.clone()).collect(),
        ids: cache.rows.iter().map(|&r| sample(r).reference_id()).collect(),
        images: cache.images,
    }
}

/// Square model-size images of the given rows ([`preprocess::model_square`]), decoded once and
/// kept as 8-bit RGB. Unreadable photos are skipped with one warning line each and counted.
pub struct ImageCache {
    pub images: Vec<RgbImage>,
    /// Row of the dataset each cached image came from.
    pub rows: Vec<usize>,
    pub skipped: usize,
}

pub fn load_images(dataset: &Dataset, rows: &[usize], params: &PreprocessParams) -> ImageCache {
    let bar = progress(rows.len() as u64, "decoding photos");
    let mut cache = ImageCache { images: Vec::with_capacity(rows.len()), rows: Vec::new(), skipped: 0 };
    for &row in rows {
        let path = &dataset.samples[row].path;
        let result = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| preprocess::decode(&bytes).map_err(|e| e.to_string()));
        match result {
            Ok(image) => {
                cache.images.push(preprocess::model_square(&image, params));
                cache.rows.push(row);
            }
            Err(e) => {
                bar.suspend(|| eprintln!("warning: skipping {}: {e}", path.display()));
                cache.skipped += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if cache.skipped > 0 {
        eprintln!("{} of {} photos could not be read and were skipped", cache.skipped, rows.len());
    }
    cache
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_manifest_and_groups_by_bean() {
        let text = "path,label,round,bean,face,label_applies,split\n\
                    r1/Black/000U.jpg,Black,r1,r1-Black-000,U,1,val\n\
                    r1/Black/000D.jpg,Black,r1,r1-Black-000,D,0,val\n\
                    r1/Normal/001U.jpg,Normal,r1,r1-Normal-001,U,1,train\n";
        let ds = parse_manifest(text, Path::new("/d")).unwrap();
        assert_eq!(ds.class_names, vec!["Normal", "Black"]);
        assert_eq!(ds.samples[0].label, 1);
        assert!(!ds.samples[1].label_applies);
        assert_eq!(ds.beans().len(), 2);
        assert_eq!(ds.split(Some("val")).samples.len(), 2);
        assert_eq!(ds.samples[2].path, Path::new("/d/r1/Normal/001U.jpg"));
        // The id the shipped bundle's references carry (bean, then the photo's face).
        assert_eq!(ds.samples[1].reference_id(), "r1-Black-000/000D");
    }

    #[test]
    fn malformed_line_is_named() {
        let text = "path,label,split\na.jpg,Normal,train\nb.jpg,Black\n";
        let err = format!("{:#}", parse_manifest(text, Path::new(".")).unwrap_err());
        assert!(err.contains("line 3"), "{err}");
        let err = format!("{:#}", parse_manifest("file,class\n", Path::new(".")).unwrap_err());
        assert!(err.contains("line 1"), "{err}");
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("beanscan-data-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_png(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        RgbImage::from_pixel(32, 32, image::Rgb([150, 110, 60])).save(path).unwrap();
    }

    #[test]
    fn missing_photo_is_reported_with_its_line() {
        let dir = scratch("missing");
        write_png(&dir.join("a.png"));
        write_png(&dir.join("c.png"));
        std::fs::write(dir.join("manifest.csv"), "path,label\na.png,Normal\n\nb.png,Black\nc.png,Black\n").unwrap();
        let err = format!("{:#}", Dataset::open(&dir).unwrap_err());
        assert!(err.contains("line 4") && err.contains("b.png") && err.contains("1 row(s)"), "{err}");
        std::fs::write(dir.join("b.png"), b"").unwrap();
        assert_eq!(Dataset::open(&dir).unwrap().samples.len(), 3);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn empty_class_is_an_error_before_training() {
        let text = "path,label,label_applies\na.jpg,Normal,1\nb.jpg,Sour,0\n";
        let err = format!("{:#}", parse_manifest(text, Path::new(".")).unwrap_err());
        assert!(err.contains("Sour") && err.contains("label_applies"), "{err}");
        let dir = scratch("folders");
        write_png(&dir.join("Normal/1.png"));
        std::fs::create_dir_all(dir.join("Black")).unwrap();
        std::fs::write(dir.join("Black/readme.txt"), "to do").unwrap();
        let err = format!("{:#}", Dataset::open(&dir).unwrap_err());
        assert!(err.contains("Black") && err.contains("no photos"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn corrupt_photos_are_skipped_and_counted() {
        let dir = scratch("corrupt");
        write_png(&dir.join("Normal/good.png"));
        std::fs::write(dir.join("Normal/empty.png"), b"").unwrap();
        std::fs::write(dir.join("Normal/text.jpg"), b"not a photo").unwrap();
        let good = std::fs::read(dir.join("Normal/good.png")).unwrap();
        std::fs::write(dir.join("Normal/half.png"), &good[..good.len() / 2]).unwrap();
        let ds = Dataset::open(&dir).unwrap();
        assert_eq!(ds.samples.len(), 4);
        let cache = load_images(&ds, &[0, 1, 2, 3], &PreprocessParams::new(16));
        assert_eq!((cache.images.len(), cache.skipped), (1, 3));
        assert_eq!(ds.samples[cache.rows[0]].path, dir.join("Normal/good.png"));
        assert_eq!(cache.images[0].dimensions(), (16, 16));
        std::fs::remove_dir_all(&dir).ok();
    }
}
