//! Depthwise convolution (one k×k filter per channel) for the CPU path at inference.
//!
//! burn's CPU kernel walks each channel's plane row by row. Lite0's later blocks have 8×8 and 4×4
//! planes with hundreds of channels, so those rows are too short to fill SIMD lanes and depthwise
//! layers take most of a bean's time. Here the channels are innermost: every multiply-add covers
//! as many channels as the vector is wide, whatever the plane size. Training keeps burn's kernel
//! (it needs gradients); the GPU keeps its own.

/// Output planes up to this many pixels (16×16) go through [`forward`]; on larger planes burn's
/// rows are long enough for SIMD and moving the data to and from channel-innermost costs more
/// than it saves (measured per Lite0 block at 128 px: 2–4× faster from 16×16 down, slower at
/// 32×32 and 64×64).
pub const MAX_PLANE: usize = 256;

/// Shape and padding of one depthwise layer. Padding is given before (top, left) and after
/// (bottom, right), as TensorFlow's "SAME" pads a stride-2 layer one pixel more after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layer {
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad_before: usize,
    pub pad_after: usize,
}

impl Layer {
    pub fn out_size(&self, size: usize) -> usize {
        (size + self.pad_before + self.pad_after - self.kernel) / self.stride + 1
    }
}

/// `input` is NCHW `[batch, channels, height, width]`; `weight` is `[channels, kernel, kernel]`;
/// returns NCHW `[batch, channels, out_h, out_w]`.
pub fn forward(layer: Layer, input: &[f32], [batch, height, width]: [usize; 3], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let Layer { channels: c, kernel: k, stride, pad_before: pad, .. } = layer;
    let (out_h, out_w) = (layer.out_size(height), layer.out_size(width));
    assert_eq!(input.len(), batch * c * height * width, "input is not [batch, channels, height, width]");
    assert_eq!(weight.len(), c * k * k, "weight is not [channels, kernel, kernel]");
    assert_eq!(bias.len(), c, "one bias per channel");
    // Weights as [kh][kw][channel].
    let mut taps = vec![0.0f32; k * k * c];
    for ch in 0..c {
        for t in 0..k * k {
            taps[t * c + ch] = weight[ch * k * k + t];
        }
    }
    let plane = height * width;
    let out_plane = out_h * out_w;
    let mut output = vec![0.0f32; batch * c * out_plane];
    let mut pixels = vec![0.0f32; plane * c]; // one photo as [y][x][channel]
    let mut acc = vec![0.0f32; out_plane * c]; // its output as [y][x][channel]
    for b in 0..batch {
        let image = &input[b * c * plane..(b + 1) * c * plane];
        for ch in 0..c {
            for (p, &v) in image[ch * plane..(ch + 1) * plane].iter().enumerate() {
                pixels[p * c + ch] = v;
            }
        }
        let pixels = &pixels;
        let taps = &taps;
        for_each_row(&mut acc, out_w * c, |oy, row| {
            for ox in 0..out_w {
                let out = &mut row[ox * c..(ox + 1) * c];
                out.copy_from_slice(bias);
                for ky in 0..k {
                    let Some(iy) = (oy * stride + ky).checked_sub(pad).filter(|&y| y < height) else { continue };
                    for kx in 0..k {
                        let Some(ix) = (ox * stride + kx).checked_sub(pad).filter(|&x| x < width) else { continue };
                        let src = &pixels[(iy * width + ix) * c..(iy * width + ix + 1) * c];
                        let tap = &taps[(ky * k + kx) * c..(ky * k + kx + 1) * c];
                        for ((o, &s), &w) in out.iter_mut().zip(src).zip(tap) {
                            *o += s * w;
                        }
                    }
                }
            }
        });
        let dst = &mut output[b * c * out_plane..(b + 1) * c * out_plane];
        for p in 0..out_plane {
            for ch in 0..c {
                dst[ch * out_plane + p] = acc[p * c + ch];
            }
        }
    }
    output
}

/// `f(row index, row)` for each `len`-long row of `out`: over rayon's threads in the wasm-threads
/// build (every row is computed alone, so the result is the same), in order elsewhere. Natively
/// the rows stay in order: split over rayon they made a photo slower (14.0 → 18.4–19.8 ms on one
/// thread, 14.3 → 15.1–18.1 ms on two; `cargo bench --bench model -- --photos …`).
fn for_each_row(out: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    #[cfg(all(target_arch = "wasm32", feature = "wasm-threads"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each(|(i, row)| f(i, row));
    }
    #[cfg(not(all(target_arch = "wasm32", feature = "wasm-threads")))]
    out.chunks_mut(len).enumerate().for_each(|(i, row)| f(i, row));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition, one output at a time, zero outside the image.
    fn reference(layer: Layer, input: &[f32], [batch, h, w]: [usize; 3], weight: &[f32], bias: &[f32]) -> Vec<f32> {
        let Layer { channels: c, kernel: k, stride, pad_before: pad, .. } = layer;
        let (oh, ow) = (layer.out_size(h), layer.out_size(w));
        let mut out = Vec::new();
        for b in 0..batch {
            for ch in 0..c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut sum = bias[ch];
                        for ky in 0..k {
                            for kx in 0..k {
                                let (y, x) =
                                    ((oy * stride + ky) as isize - pad as isize, (ox * stride + kx) as isize - pad as isize);
                                if y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w {
                                    sum +=
                                        input[((b * c + ch) * h + y as usize) * w + x as usize] * weight[(ch * k + ky) * k + kx];
                                }
                            }
                        }
                        out.push(sum);
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 - 1.0).collect()
    }

    #[test]
    fn matches_the_definition_for_lite0_shapes() {
        // (channels, kernel, stride, size): stride 1 and 2, 3×3 and 5×5, odd and even sides.
        for (c, k, stride, size) in [(5, 3, 1, 8), (6, 5, 1, 4), (7, 3, 2, 8), (4, 5, 2, 16), (3, 5, 1, 7)] {
            let total = if stride == 2 { k - 2 } else { k - 1 };
            let layer = Layer { channels: c, kernel: k, stride, pad_before: total / 2, pad_after: total - total / 2 };
            let (input, weight, bias) = (values(2 * c * size * size, 1), values(c * k * k, 2), values(c, 3));
            let got = forward(layer, &input, [2, size, size], &weight, &bias);
            let want = reference(layer, &input, [2, size, size], &weight, &bias);
            assert_eq!(got.len(), want.len());
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "c {c} k {k} stride {stride} size {size}: off by {worst}");
        }
    }
}
