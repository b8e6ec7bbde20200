//! Test-time views: a bean has no up or left, so its embedding can be the mean over several flips
//! and quarter turns of its photo. Each view costs one more pass through the network; the
//! bundle says how many its references were made with and photos get by default.
//!
//! The views are taken on the model input (planar, square), so every path — photo bytes,
//! browser pixels, a tray's beans — turns exactly the same values, on any backend.

use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::model::l2_normalise;

/// The view counts offered: as is; + mirrored; + turned half-way and its mirror; + the quarter
/// turns. Each count's views form a group, so no view is favoured.
pub const COUNTS: [u8; 4] = [1, 2, 4, 8];

/// Checks a view count (`COUNTS`), naming the allowed ones.
pub fn check(views: u8) -> Result<u8> {
    if COUNTS.contains(&views) { Ok(views) } else { Err(Error::Model(format!("{views} views: use 1, 2, 4 or 8"))) }
}

/// View `which` (0..8) of `[n, c, s, s]` inputs: bit 0 mirrors left–right, bit 1 top–bottom,
/// bit 2 swaps the axes (with the flips, the quarter turns).
fn view(x: Tensor<4>, which: usize) -> Tensor<4> {
    let x = if which & 4 != 0 { x.swap_dims(2, 3) } else { x };
    match which & 3 {
        0 => x,
        1 => x.flip([3]),
        2 => x.flip([2]),
        _ => x.flip([2, 3]),
    }
}

/// The first `views` views of every input, view-major: `[views · n, c, s, s]`.
pub fn stack(x: Tensor<4>, views: u8) -> Tensor<4> {
    if views <= 1 {
        return x;
    }
    Tensor::cat((0..usize::from(views)).map(|v| view(x.clone(), v)).collect(), 0)
}

/// Unit-length mean of the view-major embeddings `stack` led to: `[views · n, d]` → `[n, d]`.
pub fn mean(embeddings: Tensor<2>, views: u8) -> Tensor<2> {
    if views <= 1 {
        return embeddings;
    }
    let [rows, d] = embeddings.dims();
    let v = usize::from(views);
    l2_normalise(embeddings.reshape([v, rows / v, d]).sum_dim(0).reshape([rows / v, d]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn planes(device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new((0..2 * 9).map(|v| v as f32).collect::<Vec<_>>(), [1, 2, 3, 3]), device)
    }

    fn values(x: Tensor<4>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn every_count_is_a_set_of_distinct_symmetries_closed_under_composition() {
        let device = Device::flex();
        let all: Vec<Vec<f32>> = (0..8).map(|w| values(view(planes(&device), w))).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|b| b != a), "view {i} repeats another");
        }
        for &n in &COUNTS {
            let n = usize::from(n);
            for a in 0..n {
                for b in 0..n {
                    let twice = values(view(view(planes(&device), a), b));
                    assert!(all[..n].contains(&twice), "{n} views: view {b} of view {a} is outside the set");
                }
            }
        }
        // The mirror is left–right: the first row read backwards.
        assert_eq!(&all[1][..3], &[2.0, 1.0, 0.0]);
    }

    #[test]
    fn stacked_views_average_back_to_one_unit_row_per_input() {
        let device = Device::flex();
        let x = Tensor::<4>::cat(vec![planes(&device), planes(&device).mul_scalar(-1.0)], 0);
        let stacked = stack(x, 4);
        assert_eq!(stacked.dims(), [8, 2, 3, 3]);
        // A stand-in "network": the first channel's first row.
        let e: Tensor<2> = stacked.slice([0..8, 0..1, 0..1, 0..3]).reshape([8, 3]);
        let m = mean(l2_normalise(e), 4);
        assert_eq!(m.dims(), [2, 3]);
        let rows = m.into_data().try_to_vec::<f32>().unwrap();
        for r in rows.chunks(3) {
            assert!((r.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-5);
        }
        assert!(rows[..3].iter().zip(&rows[3..]).all(|(a, b)| (a + b).abs() < 1e-6), "inputs keep their order");
        assert!(check(3).is_err() && check(8).is_ok());
    }
}
