/** Building blocks shared by the models, in PyTorch's layouts. */
import * as tf from '@tensorflow/tfjs';

/** y = x Wᵀ + b with W in PyTorch's [out, in] layout; x may have any leading dimensions. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const [out, inF] = weight.shape;
  const lead = x.shape.slice(0, -1);
  const y = tf.matMul(x.reshape<tf.Tensor2D>([-1, inF]), weight, false, true);
  return (bias ? tf.add(y, bias) : y).reshape([...lead, out]);
}

/**
 * Embedding lookup as one-hot × table rather than tf.gather: gather's gradient needs
 * UnsortedSegmentSum, which tfjs's WASM backend lacks, and the matmul form is deterministic on
 * every backend. Vocabularies here are characters and phonemes, so the one-hot stays small.
 */
export function embed(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const [vocab, width] = table.shape;
  const oneHot = tf.oneHot(ids.flatten().toInt(), vocab);
  return tf.matMul(oneHot, table as tf.Tensor2D).reshape([...ids.shape, width]);
}

/** PyTorch's nn.LayerNorm over the last axis (biased variance, eps inside the square root). */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps = 1e-5): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), weight), bias);
}

/** GELU, tanh approximation: PyTorch's gelu(approximate='tanh'), GPT-2's and nanoGPT's choice. */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/**
 * Inverted dropout with a mask drawn from `seed` (tfjs draws seeded uniforms on the CPU, so the
 * same seed gives the same mask on every backend). Each call site passes its own `site` so two
 * dropouts in one step do not share a mask.
 */
export function dropout(
  x: tf.Tensor,
  rate: number,
  opts: { training: boolean; seed: number },
  site: number,
): tf.Tensor {
  if (!opts.training || rate <= 0) return x;
  const seed = (Math.imul(site + 1, 0x9e3779b1) ^ opts.seed) >>> 0;
  const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate), 'float32');
  return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
}

/** A large negative number added to the scores of positions that must not be attended to. */
export const MASKED = -1e9;

/**
 * Scaled dot-product attention over heads. q: [B, Tq, C], k and v: [B, Tk, C], C = heads × d.
 * `bias` (added to the scores) broadcasts to [B, heads, Tq, Tk]: a causal mask, a padding mask.
 * Heads are folded into the batch axis so every backend sees plain rank-3 batched matmuls.
 */
export function attention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  heads: number,
  bias: tf.Tensor | null,
  dropoutRate: number,
  opts: { training: boolean; seed: number },
  site: number,
): tf.Tensor {
  const [b, tq, c] = q.shape as [number, number, number];
  const tk = k.shape[1]!;
  const d = c / heads;
  const split = (t: tf.Tensor, len: number) =>
    tf.transpose(t.reshape([b, len, heads, d]), [0, 2, 1, 3]).reshape([b * heads, len, d]);
  const qh = split(q, tq);
  const kh = split(k, tk);
  const vh = split(v, tk);
  let scores = tf
    .mul(tf.matMul(qh as tf.Tensor3D, kh as tf.Tensor3D, false, true), 1 / Math.sqrt(d))
    .reshape([b, heads, tq, tk]);
  if (bias) scores = tf.add(scores, bias);
  const probs = dropout(tf.softmax(scores, -1), dropoutRate, opts, site).reshape([b * heads, tq, tk]);
  const out = tf.matMul(probs as tf.Tensor3D, vh as tf.Tensor3D).reshape([b, heads, tq, d]);
  return tf.transpose(out, [0, 2, 1, 3]).reshape([b, tq, c]);
}

/** [1, 1, T, T]: 0 on and below the diagonal, MASKED above it (no looking ahead). */
export function causalBias(t: number): tf.Tensor {
  return tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([t, t]), -1, 0)), MASKED).reshape([1, 1, t, t]);
}

/** [B, 1, 1, T]: MASKED where the key is padding (id 0), so no query attends to it. */
export function paddingBias(ids: tf.Tensor): tf.Tensor {
  const [b, t] = ids.shape as [number, number];
  return tf.mul(tf.cast(tf.equal(ids, 0), 'float32'), MASKED).reshape([b, 1, 1, t]);
}

/** The sinusoidal position encoding of "Attention is all you need" (OpenNMT's default), [T, C]. */
export function sinusoidalPositions(t: number, c: number): tf.Tensor2D {
  const values = new Float32Array(t * c);
  for (let pos = 0; pos < t; pos++) {
    for (let i = 0; i < c; i += 2) {
      const angle = pos / Math.pow(10000, i / c);
      values[pos * c + i] = Math.sin(angle);
      if (i + 1 < c) values[pos * c + i + 1] = Math.cos(angle);
    }
  }
  return tf.tensor2d(values, [t, c]);
}
