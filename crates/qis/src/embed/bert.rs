//! The BERT encoder of all-MiniLM-L6-v2, written for the CPU: matrix products on `gemm` (the
//! kernels candle itself uses, AVX-512 where the CPU has it), everything between them in fused
//! single passes over the rows (bias + GELU, bias + residual + layer norm, masked softmax), split
//! across threads by rows. candle-transformers' generic BERT runs each of those steps as separate
//! tensor operations, each a pass over memory with its own thread hand-off, which on two cores
//! cost more than the products themselves (see docs/performance.md).
//!
//! The arithmetic is the model's: exact GELU (`erf` to 6e-7), layer-norm epsilon from the
//! configuration, attention over real tokens only. Vectors match sentence-transformers' to a
//! cosine above 0.99999 (`tests/embed_minilm.rs`).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::vector::dot;

/// The parts of a BERT `config.json` the encoder uses.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub(crate) struct BertConfig {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub(crate) type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub(crate) layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub(crate) hidden_act: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

impl BertConfig {
    /// all-MiniLM-L6-v2's configuration, for a model directory without `config.json`.
    pub(crate) fn minilm_l6() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
        }
    }
}

/// A dense layer: `y = x Wᵀ + b`, `W` stored as (out × in), row-major, as in the checkpoint.
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    out: usize,
    inp: usize,
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value in one product (out = 3 × hidden).
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

/// The encoder's weights.
pub(crate) struct Encoder {
    config: BertConfig,
    eps: f32,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type0: Vec<f32>,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// Reads the checkpoint's tensors (any float type, converted to f32).
struct Weights {
    tensors: HashMap<String, Tensor>,
    prefix: &'static str,
}

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let t = self
            .tensors
            .get(&full)
            .ok_or_else(|| Error::Config(format!("the weights have no tensor {full}")))?;
        if t.dims() != shape {
            return Err(Error::Config(format!(
                "tensor {full} has shape {:?}, expected {shape:?}",
                t.dims()
            )));
        }
        t.to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| Error::Config(format!("tensor {full}: {e}")))
    }

    fn linear(&self, name: &str, out: usize, inp: usize) -> Result<Linear> {
        Ok(Linear {
            weight: self.get(&format!("{name}.weight"), &[out, inp])?,
            bias: self.get(&format!("{name}.bias"), &[out])?,
            out,
            inp,
        })
    }

    fn norm(&self, name: &str, size: usize) -> Result<LayerNorm> {
        // Old checkpoints call them gamma and beta.
        let pick = |new: &str, old: &str| -> Result<Vec<f32>> {
            let key = format!("{}{name}.{new}", self.prefix);
            if self.tensors.contains_key(&key) {
                self.get(&format!("{name}.{new}"), &[size])
            } else {
                self.get(&format!("{name}.{old}"), &[size])
            }
        };
        Ok(LayerNorm {
            gamma: pick("weight", "gamma")?,
            beta: pick("bias", "beta")?,
        })
    }
}

impl Encoder {
    /// Loads the weights of a BERT model from safetensors bytes.
    pub(crate) fn load(bytes: &[u8], config: BertConfig) -> Result<Self> {
        if config.hidden_act != "gelu" {
            return Err(Error::Config(format!(
                "hidden_act {:?} is not supported (only exact \"gelu\", as all-MiniLM-L6-v2 uses)",
                config.hidden_act
            )));
        }
        let (h, heads) = (config.hidden_size, config.num_attention_heads);
        if heads == 0 || h % heads != 0 {
            return Err(Error::Config(format!(
                "hidden size {h} is not a multiple of {heads} attention heads"
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| Error::Config(format!("not a safetensors file: {e}")))?;
        let prefix = if tensors.contains_key("embeddings.word_embeddings.weight") {
            ""
        } else {
            "bert."
        };
        let w = Weights { tensors, prefix };
        let i = config.intermediate_size;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let at = |s: &str| format!("encoder.layer.{l}.{s}");
            let (q, k, v) = (
                w.linear(&at("attention.self.query"), h, h)?,
                w.linear(&at("attention.self.key"), h, h)?,
                w.linear(&at("attention.self.value"), h, h)?,
            );
            let qkv = Linear {
                weight: [q.weight, k.weight, v.weight].concat(),
                bias: [q.bias, k.bias, v.bias].concat(),
                out: 3 * h,
                inp: h,
            };
            layers.push(Layer {
                qkv,
                attn_out: w.linear(&at("attention.output.dense"), h, h)?,
                attn_norm: w.norm(&at("attention.output.LayerNorm"), h)?,
                up: w.linear(&at("intermediate.dense"), i, h)?,
                down: w.linear(&at("output.dense"), h, i)?,
                out_norm: w.norm(&at("output.LayerNorm"), h)?,
            });
        }
        let token_types = w.get(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        Ok(Encoder {
            eps: config.layer_norm_eps as f32,
            word: w.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: w.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type0: token_types[..h].to_vec(),
            embed_norm: w.norm("embeddings.LayerNorm", h)?,
            layers,
            config,
        })
    }

    /// The mean over real tokens of the last hidden states of each sequence of `ids`, padded to
    /// the longest (not normalised). Ids must be below the vocabulary size and sequences no
    /// longer than the position table.
    pub(crate) fn mean_pooled(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let h = self.config.hidden_size;
        let len = ids.iter().map(|t| t.len()).max().unwrap_or(0);
        if len == 0 {
            return Ok(vec![vec![0.0; h]; ids.len()]);
        }
        if len > self.config.max_position_embeddings {
            return Err(Error::invalid(
                "text",
                format!(
                    "{len} word-pieces, more than the model's {} positions",
                    self.config.max_position_embeddings
                ),
            ));
        }
        let tokens = ids.len() * len;
        // Embeddings: word + position + token type 0, then layer norm. Padding rows are zeros
        // (never attended to, never pooled).
        let mut x = vec![0.0f32; tokens * h];
        for (s, seq) in ids.iter().enumerate() {
            for (p, &id) in seq.iter().enumerate() {
                let id = id as usize;
                if id >= self.config.vocab_size {
                    return Err(Error::invalid(
                        "text",
                        format!("token id {id} is outside the vocabulary"),
                    ));
                }
                let row = &mut x[(s * len + p) * h..][..h];
                let (word, pos) = (&self.word[id * h..][..h], &self.position[p * h..][..h]);
                for j in 0..h {
                    row[j] = word[j] + pos[j] + self.token_type0[j];
                }
            }
        }
        let lens: Vec<usize> = ids.iter().map(|t| t.len()).collect();
        x.par_chunks_exact_mut(h)
            .for_each(|row| layer_norm(row, &self.embed_norm, self.eps));

        let heads = self.config.num_attention_heads;
        let mut qkv = vec![0.0f32; tokens * 3 * h];
        let mut ctx = vec![0.0f32; tokens * h];
        let mut up = vec![0.0f32; tokens * self.config.intermediate_size];
        let mut tmp = vec![0.0f32; tokens * h];
        for layer in &self.layers {
            // Attention.
            linear(&mut qkv, &x, &layer.qkv, tokens);
            attention(&qkv, &mut ctx, &lens, len, h, heads);
            linear(&mut tmp, &ctx, &layer.attn_out, tokens);
            add_norm(&mut x, &tmp, &layer.attn_norm, self.eps, h);
            // Feed-forward.
            linear(&mut up, &x, &layer.up, tokens);
            let width = self.config.intermediate_size;
            up.par_chunks_exact_mut(width)
                .for_each(|row| row.iter_mut().for_each(|v| *v = gelu(*v)));
            linear(&mut tmp, &up, &layer.down, tokens);
            add_norm(&mut x, &tmp, &layer.out_norm, self.eps, h);
        }
        // Mean pooling over real tokens (sentence-transformers' Pooling, mode "mean").
        Ok(lens
            .iter()
            .enumerate()
            .map(|(s, &n)| {
                let mut sum = vec![0.0f32; h];
                for p in 0..n {
                    let row = &x[(s * len + p) * h..][..h];
                    sum.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                }
                let n = n.max(1) as f32;
                sum.iter_mut().for_each(|v| *v /= n);
                sum
            })
            .collect())
    }
}

/// Where a matrix lies in a slice: element (i, j) at `at + i * rs + j * cs`.
#[derive(Clone, Copy)]
struct View {
    at: usize,
    rs: usize,
    cs: usize,
}

impl View {
    /// A row-major matrix with rows of `stride` values, starting at `at`.
    fn rows(at: usize, stride: usize) -> Self {
        View {
            at,
            rs: stride,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with rows of `stride` values, starting at `at`.
    fn transposed(at: usize, stride: usize) -> Self {
        View {
            at,
            rs: 1,
            cs: stride,
        }
    }

    /// Whether a `rows` × `cols` matrix seen this way lies inside a slice of `len` values.
    fn fits(&self, rows: usize, cols: usize, len: usize) -> bool {
        rows == 0 || cols == 0 || self.at + (rows - 1) * self.rs + (cols - 1) * self.cs < len
    }
}

/// `dst (m × n) = scale · lhs (m × k) · rhs (k × n)`, each matrix a [`View`] into its slice; the
/// one call into `gemm`, with the bounds of all three checked first.
#[allow(clippy::too_many_arguments)]
fn matmul(
    dst: &mut [f32],
    dv: View,
    lhs: &[f32],
    lv: View,
    rhs: &[f32],
    rv: View,
    (m, n, k): (usize, usize, usize),
    scale: f32,
    parallelism: gemm::Parallelism,
) {
    assert!(
        dv.fits(m, n, dst.len()) && lv.fits(m, k, lhs.len()) && rv.fits(k, n, rhs.len()),
        "a matrix product out of its slices"
    );
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    // SAFETY: every element gemm reads or writes is (i, j) of one of the three views with i and
    // j inside that matrix's shape, and the assertion above puts the last such element of each
    // inside its slice (strides are positive, so it is the largest index); `dst` is borrowed
    // mutably, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().add(dv.at),
            dv.cs as isize,
            dv.rs as isize,
            false,
            lhs.as_ptr().add(lv.at),
            lv.cs as isize,
            lv.rs as isize,
            rhs.as_ptr().add(rv.at),
            rv.cs as isize,
            rv.rs as isize,
            0.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `out = x Wᵀ + b` for `rows` rows of `x`.
fn linear(out: &mut [f32], x: &[f32], l: &Linear, rows: usize) {
    let (n, k) = (l.out, l.inp);
    matmul(
        out,
        View::rows(0, n),
        x,
        View::rows(0, k),
        &l.weight,
        View::transposed(0, k),
        (rows, n, k),
        1.0,
        gemm::Parallelism::Rayon(0),
    );
    out[..rows * n].par_chunks_exact_mut(n).for_each(|row| {
        row.iter_mut().zip(&l.bias).for_each(|(v, b)| *v += b);
    });
}

/// Multi-head self-attention of every sequence: `qkv` holds each token's query, key and value
/// (3 × `h` values per token), `ctx` receives each token's attended values (`h` per token).
/// Padding tokens attend to nothing and are attended to by nothing.
fn attention(qkv: &[f32], ctx: &mut [f32], lens: &[usize], len: usize, h: usize, heads: usize) {
    let d = h / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let stride = 3 * h;
    ctx.par_chunks_exact_mut(len * h)
        .zip(lens.par_iter())
        .enumerate()
        .for_each(|(s, (out, &n))| {
            out.iter_mut().for_each(|v| *v = 0.0);
            if n == 0 {
                return;
            }
            let base = &qkv[s * len * stride..][..len * stride];
            let mut scores = vec![0.0f32; n * n];
            // Short texts (the usual case) use plain loops: a matrix-product call per head costs
            // more to set up than these few thousand multiply-adds.
            let small = n <= SMALL_ATTENTION;
            for head in 0..heads {
                let (q, k, v) = (head * d, h + head * d, 2 * h + head * d);
                // scores = Q Kᵀ / √d
                if small {
                    for i in 0..n {
                        let qi = &base[i * stride + q..][..d];
                        for j in 0..n {
                            scores[i * n + j] = dot(qi, &base[j * stride + k..][..d]) * scale;
                        }
                    }
                } else {
                    let (qv, kv) = (View::rows(q, stride), View::transposed(k, stride));
                    let (rows, none) = (View::rows(0, n), gemm::Parallelism::None);
                    matmul(
                        &mut scores,
                        rows,
                        base,
                        qv,
                        base,
                        kv,
                        (n, n, d),
                        scale,
                        none,
                    );
                }
                scores.chunks_exact_mut(n).for_each(softmax);
                // context = softmax(scores) V
                if small {
                    for i in 0..n {
                        let o = &mut out[i * h + q..][..d];
                        for (kk, &p) in scores[i * n..][..n].iter().enumerate() {
                            let vk = &base[kk * stride + v..][..d];
                            o.iter_mut().zip(vk).for_each(|(a, b)| *a += p * b);
                        }
                    }
                } else {
                    let (ov, pv, vv) = (View::rows(q, h), View::rows(0, n), View::rows(v, stride));
                    let none = gemm::Parallelism::None;
                    matmul(out, ov, &scores, pv, base, vv, (n, d, n), 1.0, none);
                }
            }
        });
}

/// Sequences up to this many tokens attend with plain loops; longer ones with `gemm`.
const SMALL_ATTENTION: usize = 64;

/// `x = LayerNorm(x + y)`, row by row.
fn add_norm(x: &mut [f32], y: &[f32], norm: &LayerNorm, eps: f32, h: usize) {
    x.par_chunks_exact_mut(h)
        .zip(y.par_chunks_exact(h))
        .for_each(|(row, add)| {
            row.iter_mut().zip(add).for_each(|(a, b)| *a += b);
            layer_norm(row, norm, eps);
        });
}

fn layer_norm(row: &mut [f32], norm: &LayerNorm, eps: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Exact GELU, `x Φ(x) = x (1 + erf(x / √2)) / 2`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The error function to an absolute error below 6e-7 (Abramowitz and Stegun 7.1.26: 1.5e-7,
/// plus f32 rounding), which moves a GELU by less than one part in a million.
fn erf(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * (-x * x).exp();
    if x < 0.0 { -y } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_within_its_bound_everywhere() {
        let mut worst = 0.0f64;
        for i in -6000..=6000 {
            let x = i as f64 / 1000.0;
            worst = worst.max((f64::from(erf(x as f32)) - libm::erf(x)).abs());
        }
        assert!(worst < 6e-7, "{worst}");
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut r = [1.0f32, 2.0, 3.0];
        softmax(&mut r);
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6 && r[2] > r[1] && r[1] > r[0]);
        let norm = LayerNorm {
            gamma: vec![1.0; 4],
            beta: vec![0.0; 4],
        };
        let mut row = [1.0f32, 2.0, 3.0, 4.0];
        layer_norm(&mut row, &norm, 1e-12);
        assert!(row.iter().sum::<f32>().abs() < 1e-5);
        let var = row.iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!((var - 1.0).abs() < 1e-4);
    }

    #[test]
    fn dot_handles_every_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 / 8.0).collect();
            let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!(
                (dot(&a, &b) - want).abs() <= 1e-3 * want.abs().max(1.0),
                "{n}"
            );
        }
    }

    #[test]
    fn matmul_reads_strided_and_transposed_views() {
        // rows of 5 values: a 3 × 2 block at column 1 times the transpose of a 3 × 2 block at
        // column 3, written into a 3 × 3 block of rows of 4 values at column 1, scaled by 2.
        let src: Vec<f32> = (0..15).map(|i| i as f32).collect();
        let mut dst = vec![0.0f32; 12];
        matmul(
            &mut dst,
            View::rows(1, 4),
            &src,
            View::rows(1, 5),
            &src,
            View::transposed(3, 5),
            (3, 3, 2),
            2.0,
            gemm::Parallelism::None,
        );
        for i in 0..3 {
            assert_eq!(dst[i * 4], 0.0, "outside the block");
            for j in 0..3 {
                let want: f32 = (0..2)
                    .map(|t| src[i * 5 + 1 + t] * src[j * 5 + 3 + t])
                    .sum();
                assert_eq!(dst[i * 4 + 1 + j], 2.0 * want, "({i}, {j})");
            }
        }
    }

    #[test]
    #[should_panic(expected = "out of its slices")]
    fn matmul_refuses_a_view_past_its_slice() {
        let mut dst = vec![0.0f32; 4];
        let src = [1.0f32; 4];
        let rows = View::rows(0, 2);
        matmul(
            &mut dst,
            rows,
            &src,
            rows,
            &src,
            View::rows(0, 3),
            (2, 2, 2),
            1.0,
            gemm::Parallelism::None,
        );
    }

    #[test]
    fn linear_matches_the_definition() {
        let l = Linear {
            weight: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], // 2 out × 3 in
            bias: vec![0.5, -0.5],
            out: 2,
            inp: 3,
        };
        let x = [1.0f32, 0.0, -1.0, 2.0, 1.0, 0.0]; // 2 rows × 3
        let mut y = [0.0f32; 4];
        linear(&mut y, &x, &l, 2);
        assert_eq!(
            y,
            [
                1.0 - 3.0 + 0.5,
                4.0 - 6.0 - 0.5,
                2.0 + 2.0 + 0.5,
                8.0 + 5.0 - 0.5
            ]
        );
    }
}
