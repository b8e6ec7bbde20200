//! The tray photo with each bean's outline drawn in its label's colour (grey: unknown).

use image::{Rgb, RgbImage};
use imageproc::drawing::draw_hollow_polygon_mut;
use imageproc::point::Point;

use super::Tray;

/// One colour per class, in class order (then repeating); chosen to stay apart on paper-white
/// and bean-brown.
pub const PALETTE: [[u8; 3]; 12] = [
    [0, 158, 115],   // Normal: green
    [213, 94, 0],    // vermilion
    [0, 114, 178],   // blue
    [230, 159, 0],   // orange
    [204, 121, 167], // purple
    [86, 180, 233],  // sky
    [240, 228, 66],  // yellow
    [150, 0, 90],    // wine
    [0, 0, 0],       // black
    [120, 70, 20],   // brown
    [255, 0, 255],   // magenta
    [0, 200, 200],   // cyan
];
pub const UNKNOWN_COLOUR: [u8; 3] = [128, 128, 128];

/// The colour of a label among `class_names`.
pub fn colour(label: &str, unknown: bool, class_names: &[String]) -> [u8; 3] {
    if unknown {
        return UNKNOWN_COLOUR;
    }
    let i = class_names.iter().position(|c| c == label).unwrap_or(class_names.len());
    PALETTE[i % PALETTE.len()]
}

/// Draws every bean's outline, three pixels wide (scaled up on large photos so it stays visible).
pub fn annotate(photo: &RgbImage, tray: &Tray, class_names: &[String]) -> RgbImage {
    let mut out = photo.clone();
    let width = (photo.width().max(photo.height()) / 400).max(1) as i32 + 1;
    for bean in &tray.beans {
        let c = Rgb(colour(&bean.prediction.label, bean.prediction.unknown, class_names));
        for grow in 0..width {
            let outline = grown(&bean.found.outline, grow as f32);
            if outline.len() >= 3 {
                draw_hollow_polygon_mut(&mut out, &outline, c);
            }
        }
    }
    out
}

/// The outline pushed `by` pixels away from its centre (for thick lines).
fn grown(outline: &[[f32; 2]], by: f32) -> Vec<Point<f32>> {
    let n = outline.len().max(1) as f32;
    let (cx, cy) = (outline.iter().map(|p| p[0]).sum::<f32>() / n, outline.iter().map(|p| p[1]).sum::<f32>() / n);
    let mut points: Vec<Point<f32>> = outline
        .iter()
        .map(|p| {
            let (dx, dy) = (p[0] - cx, p[1] - cy);
            let len = (dx * dx + dy * dy).sqrt().max(1e-3);
            Point::new(p[0] + dx / len * by, p[1] + dy / len * by)
        })
        .collect();
    // The drawing routine wants an open polygon: no repeated closing point.
    if points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    points
}
