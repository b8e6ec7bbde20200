//! The annotated beans of tray photos as single-bean photos with a manifest, so that `tune` can
//! train one encoder on both cameras (`beanscan tray-crops`). Each bean is cut from its
//! annotated polygon as the tray pipeline cuts a found bean (`Found::square`), from the photo as
//! `preprocess::decode` reads it, and saved losslessly (PNG).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::tray_data::{TrayPhoto, load_trays, tray_dates};
use crate::tray::detect::Found;

/// The manifest columns `train::data` reads, in the order greencoffee's manifest has them.
pub const MANIFEST_HEADER: &str = "path,label,round,bean,face,label_applies,split";

/// What was written: tray beans per date and class (for the tables), and the row counts.
#[derive(Debug, Default)]
pub struct CropsReport {
    pub beans: BTreeMap<String, BTreeMap<String, usize>>,
    pub tray_rows: usize,
    pub single_rows: usize,
}

/// The square a bean's annotated box is cut with: `Found::square` of the box as whole pixels.
fn bean_square(bbox: [f32; 4], width: u32, height: u32) -> (u32, u32, u32) {
    let (x, y) = (bbox[0].max(0.0) as u32, bbox[1].max(0.0) as u32);
    let (w, h) = ((bbox[2].max(0.0) as u32).saturating_sub(x) + 1, (bbox[3].max(0.0) as u32).saturating_sub(y) + 1);
    Found { bbox: [x, y, w, h], outline: Vec::new(), area: 0.0 }.square(width, height)
}

/// Cuts every annotated bean of the trays under `trays` into `out` (one folder per tray folder,
/// `NAME_IDX.png`) and writes `out/manifest.csv` and `out/beans.json`. Beans of photos of date
/// `held` (YYYYMMDD; None: none) go to split `held` when `single` names any, else `val`; the
/// rest to `train`. `single`: folders with their own `manifest.csv` (greencoffee, thai, usk),
/// each linked as `out/NAME` and its rows appended with their splits kept ([`single_rows`]).
pub fn write_tray_crops(trays: &Path, out: &Path, held: Option<&str>, single: &[PathBuf]) -> Result<CropsReport> {
    let photos = load_trays(trays)?;
    if let Some(date) = held
        && !photos.iter().any(|p| p.date == date)
    {
        return Err(Error::Bundle(format!("no tray photo of date {date} (dates: {})", tray_dates(&photos).join(", "))));
    }
    let held_split = if single.is_empty() { "val" } else { "held" };
    let mut rows = vec![MANIFEST_HEADER.to_string()];
    let mut report = CropsReport::default();
    for photo in &photos {
        let split = if held == Some(photo.date.as_str()) { held_split } else { "train" };
        for (row, label) in crop_photo(trays, photo, out, split)? {
            rows.push(row);
            *report.beans.entry(photo.date.clone()).or_default().entry(label).or_default() += 1;
        }
    }
    report.tray_rows = rows.len() - 1;
    for single in single {
        rows.extend(single_rows(single, out)?);
    }
    report.single_rows = rows.len() - 1 - report.tray_rows;
    write(&out.join("manifest.csv"), (rows.join("\n") + "\n").as_bytes())?;
    let counts = serde_json::to_string_pretty(&report.beans).map_err(|e| Error::Bundle(e.to_string()))?;
    write(&out.join("beans.json"), counts.as_bytes())?;
    Ok(report)
}

/// One tray photo's beans: crops saved, (manifest row, label) returned.
fn crop_photo(trays: &Path, photo: &TrayPhoto, out: &Path, split: &str) -> Result<Vec<(String, String)>> {
    let bytes = std::fs::read(&photo.path).map_err(|e| Error::Bundle(format!("cannot read {}: {e}", photo.path.display())))?;
    let image = crate::preprocess::decode(&bytes)?;
    let (width, height) = image.dimensions();
    let name = photo.path.file_stem().and_then(|s| s.to_str()).unwrap_or("tray");
    // The photo's folder below `trays` is kept, so photos of the same name in two folders differ.
    let folder: PathBuf = photo.path.parent().and_then(|p| p.strip_prefix(trays).ok()).map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(out.join(&folder)).map_err(|e| Error::Bundle(format!("cannot create {}: {e}", out.display())))?;
    let mut rows = Vec::with_capacity(photo.beans.len());
    for (i, bean) in photo.beans.iter().enumerate() {
        let (left, top, side) = bean_square(bean.bbox, width, height);
        let crop = image::imageops::crop_imm(&image, left, top, side, side).to_image();
        let id = format!("{name}_{i:03}");
        let rel = folder.join(format!("{id}.png"));
        crop.save(out.join(&rel)).map_err(|e| Error::Bundle(format!("cannot write {}: {e}", out.join(&rel).display())))?;
        let rel = rel.to_string_lossy().replace('\\', "/");
        if bean.label.contains(',') {
            return Err(Error::Bundle(format!("{}: label {:?} has a comma", photo.path.display(), bean.label)));
        }
        rows.push((format!("{rel},{},{},{id},U,1,{split}", bean.label, photo.date), bean.label.clone()));
    }
    Ok(rows)
}

/// The rows of `single/manifest.csv`, their paths under `out/NAME` (a link to `single`, NAME its
/// folder's name). Greencoffee's manifest is taken as it is; another (`path,label[,…,split]`,
/// as usk/ and thai/) gets its folder as round, one bean per photo, and the shipped names.
fn single_rows(single: &Path, out: &Path) -> Result<Vec<String>> {
    let manifest = single.join("manifest.csv");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| Error::Bundle(format!("cannot read {}: {e}", manifest.display())))?;
    let name = std::fs::canonicalize(single)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .filter(|n| !n.is_empty() && !n.contains(','))
        .ok_or_else(|| Error::Bundle(format!("{}: not a folder with a usable name", single.display())))?;
    let link = out.join(&name);
    if std::fs::symlink_metadata(&link).is_err() {
        let target = std::fs::canonicalize(single).map_err(|e| Error::Bundle(format!("{}: {e}", single.display())))?;
        link_dir(&target, &link)?;
    }
    let header = text.lines().next().unwrap_or("").trim();
    if header == MANIFEST_HEADER {
        return Ok(text.lines().skip(1).filter(|l| !l.trim().is_empty()).map(|l| format!("{name}/{}", l.trim_end())).collect());
    }
    let data = crate::train::data::parse_manifest(&text, Path::new(""))
        .map_err(|e| Error::Bundle(format!("{}: {e:#}", manifest.display())))?;
    Ok(data
        .samples
        .iter()
        .map(|s| {
            let path = s.path.to_string_lossy().replace('\\', "/");
            let label = crate::tray::grade::shipped_name(&data.class_names[usize::from(s.label)]);
            let split = if s.split.is_empty() { "train" } else { s.split.as_str() };
            format!("{name}/{path},{label},{name},{name}/{path},U,{},{split}", u8::from(s.label_applies))
        })
        .collect())
}

#[cfg(unix)]
fn link_dir(target: &Path, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(|e| Error::Bundle(format!("cannot link {}: {e}", link.display())))
}

#[cfg(not(unix))]
fn link_dir(_target: &Path, link: &Path) -> Result<()> {
    Err(Error::Bundle(format!("linking {} needs a Unix file system", link.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::Bundle(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bean_is_cut_as_a_found_bean_would_be() {
        // A 20 × 10 box at (30, 40) in a 100 × 80 photo: side 24, centred, inside the photo.
        assert_eq!(bean_square([30.4, 40.0, 49.9, 49.2], 100, 80), (28, 33, 24));
        // Near the edge the square is pushed back inside.
        assert_eq!(bean_square([0.0, 0.0, 9.0, 9.0], 100, 80), (0, 0, 12));
        assert_eq!(bean_square([95.0, 75.0, 99.0, 79.0], 100, 80), (94, 74, 6));
    }
}
