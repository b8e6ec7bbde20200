//! 8-bit weights: a quarter of the f32 bytes, for a smaller page. Every float parameter with two
//! or more dimensions is stored as i8 with one f32 scale per slice along its first dimension
//! (per output channel of a convolution, per input row of a linear layer); vectors (biases,
//! norms, the code standardisation) stay f32. Loading widens everything back to f32, so the
//! model runs exactly as an f32 model with slightly rounded weights.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Embedder, ModelConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Stored {
    F32 { shape: Vec<usize>, values: Vec<f32> },
    I8 { shape: Vec<usize>, scales: Vec<f32>, values: Vec<i8> },
}

/// Symmetric per-slice quantisation: scale = max |w| / 127 over each slice of the first dimension.
fn quantize(shape: Vec<usize>, values: Vec<f32>) -> Stored {
    if shape.len() < 2 || values.is_empty() {
        return Stored::F32 { shape, values };
    }
    let slice = values.len() / shape[0];
    let mut scales = Vec::with_capacity(shape[0]);
    let mut out = Vec::with_capacity(values.len());
    for chunk in values.chunks(slice) {
        let max = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        out.extend(chunk.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
    }
    Stored::I8 { shape, scales, values: out }
}

fn dequantize(stored: &Stored) -> Result<(Vec<usize>, Vec<f32>)> {
    match stored {
        Stored::F32 { shape, values } => Ok((shape.clone(), values.clone())),
        Stored::I8 { shape, scales, values } => {
            let n: usize = shape.iter().product();
            if shape.is_empty() || n != values.len() || scales.len() != shape[0] || !n.is_multiple_of(shape[0]) {
                return Err(Error::Model(format!(
                    "8-bit weights: shape {shape:?} does not fit {} values and {} scales",
                    values.len(),
                    scales.len()
                )));
            }
            let slice = n / shape[0];
            let widened = values.chunks(slice).zip(scales).flat_map(|(c, s)| c.iter().map(move |&v| f32::from(v) * s)).collect();
            Ok((shape.clone(), widened))
        }
    }
}

/// Collects every float parameter, in the module's visiting order.
struct Collect(Vec<Stored>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let values = tensor.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 parameter");
        self.0.push(quantize(shape, values));
    }
}

/// A module's weights as 8-bit bytes (postcard).
pub fn to_int8_bytes<M: Module>(embedder: &M) -> Result<Vec<u8>> {
    let mut collect = Collect(Vec::new());
    embedder.visit(&mut collect);
    postcard::to_allocvec(&collect.0).map_err(|e| Error::Model(format!("cannot encode 8-bit weights: {e}")))
}

/// Replaces every float parameter, in visiting order, with the next stored tensor.
struct Fill<'a> {
    stored: std::slice::Iter<'a, Stored>,
    device: Device,
    error: Option<Error>,
}

impl ModuleMapper for Fill<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let expected = param.val().dims().to_vec();
        let next = match self.stored.next() {
            Some(s) => dequantize(s),
            None => Err(Error::Model("weights do not fit the model: fewer 8-bit tensors than the model has".into())),
        };
        match next {
            Ok((shape, values)) if shape == expected => {
                let device = self.device.clone();
                param.map(move |_| Tensor::from_data(TensorData::new(values, shape), &device))
            }
            Ok((shape, _)) => {
                self.error = Some(Error::Model(format!(
                    "weights do not fit the model: an 8-bit tensor of shape {shape:?} where the model has {expected:?}"
                )));
                param
            }
            Err(e) => {
                self.error = Some(e);
                param
            }
        }
    }
}

/// An embedder on `device` with the weights stored by [`to_int8_bytes`].
pub fn embedder_from_int8(config: &ModelConfig, bytes: &[u8], device: &Device) -> Result<Embedder> {
    fill_int8(Embedder::new(config, device), bytes, device)
}

/// `fresh` (a module built on `device`) with the weights stored by [`to_int8_bytes`].
pub fn fill_int8<M: Module>(fresh: M, bytes: &[u8], device: &Device) -> Result<M> {
    let stored: Vec<Stored> = postcard::from_bytes(bytes).map_err(|e| Error::Model(format!("cannot read 8-bit weights: {e}")))?;
    let mut fill = Fill { stored: stored.iter(), device: device.clone(), error: None };
    let model = fresh.map(&mut fill);
    if let Some(e) = fill.error {
        return Err(e);
    }
    if fill.stored.next().is_some() {
        return Err(Error::Model("weights do not fit the model: more 8-bit tensors than the model has".into()));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_slice_rounding_error_is_under_half_a_step() {
        let values: Vec<f32> = (0..24).map(|i| (i as f32 - 11.0) * if i < 12 { 0.01 } else { 3.0 }).collect();
        let stored = quantize(vec![2, 3, 4], values.clone());
        let Stored::I8 { scales, .. } = &stored else { panic!("a 3-d tensor is quantised") };
        let (shape, back) = dequantize(&stored).unwrap();
        assert_eq!(shape, vec![2, 3, 4]);
        for (i, (a, b)) in values.iter().zip(&back).enumerate() {
            assert!((a - b).abs() <= scales[i / 12] / 2.0 + 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn vectors_stay_exact() {
        assert_eq!(dequantize(&quantize(vec![3], vec![0.1, -2.0, 7.5])).unwrap().1, vec![0.1, -2.0, 7.5]);
    }

    #[test]
    fn round_trip_through_a_model_keeps_embeddings_close() {
        let config = ModelConfig { width: 8, blocks_per_stage: 1, ..ModelConfig::default() };
        let device = Device::flex();
        let model = Embedder::new(&config, &device);
        let bytes = to_int8_bytes(&model).unwrap();
        let back = embedder_from_int8(&config, &bytes, &device).unwrap();
        let x = Tensor::<4>::ones([1, 3, config.input_size, config.input_size], &device);
        let (a, b) = (model.forward(x.clone()).into_data(), back.forward(x).into_data());
        let diff = a
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .zip(b.try_to_vec::<f32>().unwrap())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(diff < 0.05, "max embedding difference {diff}");
        // A truncated or foreign payload is an error, not a panic.
        assert!(embedder_from_int8(&config, &bytes[..bytes.len() / 2], &device).is_err());
        let other = ModelConfig { width: 16, ..config.clone() };
        assert!(embedder_from_int8(&other, &bytes, &device).is_err());
    }
}
