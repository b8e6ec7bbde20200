//! The background around a bean painted one plain colour before the net sees it. Each camera
//! shows its bean on its own ground (a rig, a dark pad, white paper, a textured paper towel, a
//! grey card); a net trained on some of them reads the ground as well as the bean, and a ground it
//! never saw moves every bean's embedding. Painting it plain leaves the bean as the only thing
//! that differs (`docs/results.md`, "Recipes measured and not shipped").
//!
//! The background is what can be reached from the square's edge through pixels near a colour of
//! its outer ring, so a bean's own pale spots and holes stay, however close to the paper's colour.

use std::collections::VecDeque;

use image::RgbImage;

use crate::traits::{distance, percentile};

/// Pixels this far (RGB in 0..1) from a colour of the ground can be ground, at least.
const NEAR_BACKGROUND: f32 = 0.12;
/// Farthest a textured ground widens that bound to: its ring's 90th-percentile distance × 1.5.
const WIDEST: f32 = 0.3;
/// Share of the ring a colour must hold to count as ground.
const GROUND_SHARE: f32 = 0.3;
/// Most a ground's channels may differ, as a share of its brightest: the bean finder's bound
/// between warm beans and grey grounds ([`crate::preprocess::bean_square`]).
const GREYEST: f32 = 0.22;
/// Less of the square's middle (its central quarter by side) kept than this share: the flood
/// took the bean itself (one the colour of its ground, or a black bean filling its square as a
/// black pad would), so the square is left as the camera saw it.
const LEAST_MIDDLE: f32 = 0.5;

/// Paints the background of `square` (a bean framed in its middle) with `fill`. A square whose
/// middle would be painted is left unchanged: there the bean could not be told from its ground.
pub fn paint_background(square: &mut RgbImage, fill: [u8; 3]) {
    let (w, h) = square.dimensions();
    if w < 3 || h < 3 {
        return;
    }
    let ground = background_of(square);
    let (w, h) = (w as usize, h as usize);
    let mut flooded = vec![false; w * h];
    let mut queue: VecDeque<usize> = VecDeque::new();
    let near = |i: usize| ground.near(square.get_pixel((i % w) as u32, (i / w) as u32).0);
    for i in (0..w * h).filter(|&i| i % w == 0 || i % w == w - 1 || i / w == 0 || i / w == h - 1) {
        if near(i) {
            flooded[i] = true;
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        let (x, y) = (i % w, i / w);
        let around = [(x > 0).then(|| i - 1), (x + 1 < w).then(|| i + 1), (y > 0).then(|| i - w), (y + 1 < h).then(|| i + w)];
        for j in around.into_iter().flatten() {
            if !flooded[j] && near(j) {
                flooded[j] = true;
                queue.push_back(j);
            }
        }
    }
    let kept = keep_rim(&flooded, w, h);
    let middle: Vec<bool> = (0..w * h)
        .filter(|i| (3 * w / 8..5 * w / 8).contains(&(i % w)) && (3 * h / 8..5 * h / 8).contains(&(i / w)))
        .map(|i| kept[i])
        .collect();
    if (middle.iter().filter(|&&k| k).count() as f32) < LEAST_MIDDLE * middle.len() as f32 {
        return;
    }
    for (i, pixel) in square.pixels_mut().enumerate() {
        if !kept[i] {
            pixel.0 = fill;
        }
    }
}

/// The pixels kept: every one not flooded, and the flooded ones touching them (the bean's
/// blurred edge, half paper and half bean, stays as the camera saw it).
fn keep_rim(flooded: &[bool], w: usize, h: usize) -> Vec<bool> {
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            !flooded[i]
                || (x > 0 && !flooded[i - 1])
                || (x + 1 < w && !flooded[i + 1])
                || (y > 0 && !flooded[i - w])
                || (y + 1 < h && !flooded[i + w])
        })
        .collect()
}

/// The colours of the ground and how far from one a pixel may still be ground.
struct Ground {
    colours: Vec<([f32; 3], f32)>,
}

impl Ground {
    fn near(&self, p: [u8; 3]) -> bool {
        let p = p.map(|v| f32::from(v) / 255.0);
        self.colours.iter().any(|(colour, bound)| distance(&p, colour) <= *bound)
    }
}

/// The ground seen in the square's outer sixteenth: its one or two main colours (a rig's white
/// beside its dark pad; paper in light and in shadow), each the median of its share of the ring,
/// with a bound widened by how much that share varies (a paper towel's texture). A colour counts
/// only where it holds [`GROUND_SHARE`] of the ring and is grey, white or black: beans are yellow
/// to brown, so a bean filling much of its square is not taken for its ground.
fn background_of(square: &RgbImage) -> Ground {
    let (w, h) = square.dimensions();
    let ring: Vec<[f32; 3]> =
        crate::preprocess::ring_pixels(square, (w.min(h) / 16).max(1)).map(|p| p.map(|v| f32::from(v) / 255.0)).collect();
    let groups = two_groups(&ring);
    let colours = groups
        .iter()
        .filter(|g| g.len() as f32 >= GROUND_SHARE * ring.len() as f32)
        .map(|g| {
            let colour = [0, 1, 2].map(|c| percentile(&mut g.iter().map(|p| p[c]).collect::<Vec<_>>(), 50.0));
            let spread = percentile(&mut g.iter().map(|p| distance(p, &colour)).collect::<Vec<_>>(), 90.0);
            (colour, (1.5 * spread).clamp(NEAR_BACKGROUND, WIDEST))
        })
        .filter(|(colour, _)| is_grey(colour))
        .collect();
    Ground { colours }
}

fn is_grey(c: &[f32; 3]) -> bool {
    let (max, min) = (c[0].max(c[1]).max(c[2]), c[0].min(c[1]).min(c[2]));
    max - min <= GREYEST * max
}

/// The ring's pixels in two groups by colour (two-means from its darkest and lightest pixel).
fn two_groups(ring: &[[f32; 3]]) -> [Vec<[f32; 3]>; 2] {
    let light = |p: &[f32; 3]| p.iter().sum::<f32>();
    let darkest = ring.iter().copied().min_by(|a, b| light(a).total_cmp(&light(b))).unwrap_or([0.0; 3]);
    let lightest = ring.iter().copied().max_by(|a, b| light(a).total_cmp(&light(b))).unwrap_or([1.0; 3]);
    let mut centres = [darkest, lightest];
    let mut groups: [Vec<[f32; 3]>; 2] = Default::default();
    for _ in 0..8 {
        groups = Default::default();
        for p in ring {
            let g = usize::from(distance(p, &centres[1]) < distance(p, &centres[0]));
            groups[g].push(*p);
        }
        for (centre, group) in centres.iter_mut().zip(&groups) {
            if !group.is_empty() {
                *centre = [0, 1, 2].map(|c| group.iter().map(|p| p[c]).sum::<f32>() / group.len() as f32);
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    const FILL: [u8; 3] = [128, 128, 128];

    /// An ellipse of `bean` on `paper` that varies by ± `texture` from pixel to pixel.
    fn bean_on(paper: [u8; 3], texture: u8, bean: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(64, 64, |x, y| {
            let (dx, dy) = ((x as f32 - 32.0) / 18.0, (y as f32 - 32.0) / 12.0);
            if dx * dx + dy * dy <= 1.0 {
                return Rgb(bean);
            }
            let t = ((x * 7 + y * 13) % 3) as i16 - 1; // -1, 0, 1
            Rgb(paper.map(|v| (i16::from(v) + t * i16::from(texture)).clamp(0, 255) as u8))
        })
    }

    #[test]
    fn textured_paper_becomes_plain_and_the_bean_stays() {
        let mut square = bean_on([220, 215, 205], 20, [120, 130, 90]);
        paint_background(&mut square, FILL);
        assert_eq!(square.get_pixel(2, 2).0, FILL);
        assert_eq!(square.get_pixel(60, 40).0, FILL);
        assert_eq!(square.get_pixel(32, 32).0, [120, 130, 90]);
        assert_eq!(square.get_pixel(46, 32).0, [120, 130, 90]);
    }

    #[test]
    fn a_pale_spot_inside_the_bean_is_not_background() {
        let mut square = bean_on([230, 230, 230], 0, [110, 120, 80]);
        for (x, y) in [(30, 30), (31, 30), (30, 31), (31, 31)] {
            square.put_pixel(x, y, Rgb([230, 230, 230]));
        }
        paint_background(&mut square, FILL);
        assert_eq!(square.get_pixel(30, 30).0, [230, 230, 230]);
        assert_eq!(square.get_pixel(0, 0).0, FILL);
    }

    #[test]
    fn a_bean_on_a_dark_pad_is_cut_out_too() {
        let mut square = bean_on([30, 30, 35], 5, [150, 150, 110]);
        paint_background(&mut square, FILL);
        assert_eq!(square.get_pixel(63, 63).0, FILL);
        assert_eq!(square.get_pixel(32, 32).0, [150, 150, 110]);
    }

    #[test]
    fn a_white_rig_beside_a_dark_pad_are_both_ground() {
        let mut square = bean_on([30, 30, 35], 5, [150, 150, 110]);
        for (x, y, p) in square.enumerate_pixels_mut() {
            if x < 10 || y >= 50 {
                *p = Rgb([235, 235, 230]);
            }
        }
        paint_background(&mut square, FILL);
        assert_eq!(square.get_pixel(2, 2).0, FILL);
        assert_eq!(square.get_pixel(60, 2).0, FILL);
        assert_eq!(square.get_pixel(32, 32).0, [150, 150, 110]);
    }

    #[test]
    fn a_dark_bean_filling_its_square_is_not_taken_for_its_ground() {
        let mut square = RgbImage::from_fn(64, 64, |x, _| Rgb(if x < 8 { [225, 225, 225] } else { [60, 40, 30] }));
        for (x, y) in [(40, 40), (20, 20), (60, 5)] {
            square.put_pixel(x, y, Rgb([20, 15, 15])); // as dark as a pad
        }
        let before = square.clone();
        paint_background(&mut square, FILL);
        assert_eq!(square.get_pixel(2, 30).0, FILL, "the paper at the edge is ground");
        let bean_kept = (9..64).all(|x| (0..64).all(|y| square.get_pixel(x, y) == before.get_pixel(x, y)));
        assert!(bean_kept, "the bean, dark spots and all, is left as it was");
    }

    #[test]
    fn a_bean_the_colour_of_its_paper_is_left_as_is() {
        let mut square = bean_on([200, 200, 200], 0, [205, 200, 198]);
        let before = square.clone();
        paint_background(&mut square, FILL);
        assert!(square == before, "nothing painted");
    }

    #[test]
    fn the_edge_of_the_bean_keeps_one_pixel_of_what_was_around_it() {
        let mut square = bean_on([230, 230, 230], 0, [110, 120, 80]);
        paint_background(&mut square, FILL);
        // (50, 32) is bean: 18 px right of centre; (51, 32) is paper beside it, kept.
        assert_eq!(square.get_pixel(50, 32).0, [110, 120, 80]);
        assert_eq!(square.get_pixel(51, 32).0, [230, 230, 230]);
        assert_eq!(square.get_pixel(53, 32).0, FILL);
    }
}
