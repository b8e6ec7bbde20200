//! Annotated tray photos: `NAME.jpg` + `NAME.json`, a list of `{"label", "points": [[x, y], ...]}`
//! polygons, one per bean, read into boxes and grouped by session (the date the name starts with).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
struct PolygonJson {
    label: String,
    points: Vec<[f32; 2]>,
}

/// One annotated bean.
#[derive(Debug, Clone)]
pub struct TrueBean {
    pub label: String,
    /// left, top, right, bottom
    pub bbox: [f32; 4],
}

impl TrueBean {
    /// The bean an annotated polygon outlines (at least one point), as its box.
    pub fn from_points(label: String, points: &[[f32; 2]]) -> TrueBean {
        let xs = points.iter().map(|q| q[0]);
        let ys = points.iter().map(|q| q[1]);
        let bbox = [
            xs.clone().fold(f32::INFINITY, f32::min),
            ys.clone().fold(f32::INFINITY, f32::min),
            xs.fold(f32::NEG_INFINITY, f32::max),
            ys.fold(f32::NEG_INFINITY, f32::max),
        ];
        TrueBean { label, bbox }
    }
}

/// One tray photo and its annotations.
#[derive(Debug, Clone)]
pub struct TrayPhoto {
    pub path: PathBuf,
    /// Session key for splitting: the file name's first 8 digits (a date), else "all".
    pub date: String,
    pub beans: Vec<TrueBean>,
}

/// Every `*.jpg`/`*.jpeg`/`*.png` under `dir` (any depth) with a `.json` of polygons beside it.
pub fn load_trays(dir: &Path) -> Result<Vec<TrayPhoto>> {
    let mut photos = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::Bundle(format!("cannot read {}: {e}", d.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if !matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png")) {
                continue;
            }
            let json = path.with_extension("json");
            if !json.exists() {
                continue;
            }
            let text =
                std::fs::read_to_string(&json).map_err(|e| Error::Bundle(format!("cannot read {}: {e}", json.display())))?;
            let polygons: Vec<PolygonJson> = serde_json::from_str(&text)
                .map_err(|e| Error::Bundle(format!("{}: not a list of {{label, points}}: {e}", json.display())))?;
            let beans = polygons
                .into_iter()
                .filter(|p| !p.points.is_empty())
                .map(|p| TrueBean::from_points(p.label, &p.points))
                .collect();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let date = if stem.len() >= 8 && stem[..8].bytes().all(|b| b.is_ascii_digit()) {
                stem[..8].to_string()
            } else {
                "all".to_string()
            };
            photos.push(TrayPhoto { path, date, beans });
        }
    }
    photos.sort_by(|a, b| a.path.cmp(&b.path));
    if photos.is_empty() {
        return Err(Error::Bundle(format!("no tray photos with a .json of polygons under {}", dir.display())));
    }
    Ok(photos)
}

/// The dates of these photos, each once, in order.
pub fn tray_dates(photos: &[TrayPhoto]) -> Vec<&str> {
    let mut dates: Vec<&str> = photos.iter().map(|p| p.date.as_str()).collect();
    dates.sort_unstable();
    dates.dedup();
    dates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_with_polygons_are_read_as_boxes_by_session_and_the_rest_skipped() {
        let dir = std::env::temp_dir().join(format!("beanscan-tray-data-{}", std::process::id()));
        let nested = dir.join("more");
        std::fs::create_dir_all(&nested).unwrap();
        let polygons = r#"[{"label": "Sour", "points": [[10, 20], [30, 5], [25, 40]]}, {"label": "Black", "points": []}]"#;
        std::fs::write(dir.join("20240105_1.jpg"), b"not read here").unwrap();
        std::fs::write(dir.join("20240105_1.json"), polygons).unwrap();
        std::fs::write(nested.join("tray.png"), b"").unwrap();
        std::fs::write(nested.join("tray.json"), "[]").unwrap();
        std::fs::write(dir.join("no-polygons.jpg"), b"").unwrap();
        let photos = load_trays(&dir).unwrap();
        assert_eq!(photos.len(), 2);
        assert_eq!(photos[0].date, "20240105");
        assert_eq!(photos[0].beans.len(), 1, "a polygon without points is no bean");
        assert_eq!(photos[0].beans[0].label, "Sour");
        assert_eq!(photos[0].beans[0].bbox, [10.0, 5.0, 30.0, 40.0]);
        assert_eq!(photos[1].date, "all");
        assert_eq!(tray_dates(&photos), ["20240105", "all"]);
        std::fs::write(dir.join("20240105_1.json"), "{}").unwrap();
        assert!(load_trays(&dir).unwrap_err().to_string().contains("not a list of {label, points}"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load_trays(&dir).is_err());
    }
}
