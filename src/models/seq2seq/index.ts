/**
 * An encoder-decoder transformer for sequence-to-sequence tasks (OpenNMT-py's transformer, with
 * PyTorch's own nn.Transformer names): pre-LN layers (norm_first=True), ReLU feed-forward,
 * sinusoidal positions, padding masks on every attention over the source, a causal mask in the
 * decoder's self-attention, and teacher forcing (the decoder reads the gold target shifted right).
 *
 * PyTorch twin, by parameter name (linear weights [out, in]):
 *   src_emb, tgt_emb          nn.Embedding(src_vocab_size | vocab_size, d_model), scaled by
 *                             sqrt(d_model) in the forward pass (init N(0, d_model^-0.5))
 *   encoder                   nn.TransformerEncoder(nn.TransformerEncoderLayer(d_model, n_head,
 *                             d_ff, dropout, activation='relu', batch_first=True,
 *                             norm_first=True), enc_layers, norm=nn.LayerNorm(d_model)):
 *     encoder.layers.{i}.self_attn.in_proj_weight [3·d, d] (q, k, v rows), .in_proj_bias [3·d],
 *     encoder.layers.{i}.self_attn.out_proj.weight/bias, .linear1.*, .linear2.*, .norm1.*, .norm2.*
 *     encoder.norm.*
 *   decoder                   nn.TransformerDecoder(nn.TransformerDecoderLayer(same), dec_layers,
 *                             norm=nn.LayerNorm(d_model)):
 *     decoder.layers.{i}.self_attn.*, .multihead_attn.* (queries from the decoder, keys and
 *     values from the encoder's output), .linear1.*, .linear2.*, .norm1.*, .norm2.*, .norm3.*
 *     decoder.norm.*
 *   generator                 nn.Linear(d_model, vocab_size)
 * Init as nn.Transformer._reset_parameters: Xavier-uniform for every matrix in encoder and decoder.
 *
 * The model definition takes one tensor, so `logits` reads x = [src | tgt_in] packed along the
 * time axis: the first `src_len` columns are the source (0 = padding), the rest the decoder input.
 */
import * as tf from '@tensorflow/tfjs';
import { attention, causalBias, dropout, embed, layerNorm, linear, paddingBias, sinusoidalPositions } from '../layers';
import { linearSpecs, type ModelConfig, type ModelDefinition, type ParamSpec, type Params } from '../types';

export interface Seq2SeqConfig extends ModelConfig {
  kind: 'seq2seq';
  src_vocab_size: number;
  /** The target vocabulary (what the generator predicts). */
  vocab_size: number;
  d_model: number;
  n_head: number;
  d_ff: number;
  enc_layers: number;
  dec_layers: number;
  dropout: number;
  /** Source columns of the packed input; not a topology key (positions are sinusoidal). */
  src_len: number;
}

type Opts = { training: boolean; seed: number };

const zeros = { kind: 'const', value: 0 } as const;
const ones = { kind: 'const', value: 1 } as const;
const xavier = (fanIn: number, fanOut: number) =>
  ({ kind: 'uniform', bound: Math.sqrt(6 / (fanIn + fanOut)) }) as const;

function normSpecs(name: string, d: number): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [d], init: ones },
    { name: `${name}.bias`, shape: [d], init: zeros },
  ];
}

function mhaSpecs(name: string, d: number): ParamSpec[] {
  return [
    { name: `${name}.in_proj_weight`, shape: [3 * d, d], init: xavier(d, 3 * d) },
    { name: `${name}.in_proj_bias`, shape: [3 * d], init: zeros },
    { name: `${name}.out_proj.weight`, shape: [d, d], init: xavier(d, d) },
    { name: `${name}.out_proj.bias`, shape: [d], init: zeros },
  ];
}

function ffSpecs(name: string, d: number, ff: number): ParamSpec[] {
  const [w1, b1] = linearSpecs(`${name}.linear1`, d, ff);
  const [w2, b2] = linearSpecs(`${name}.linear2`, ff, d);
  return [{ ...w1, init: xavier(d, ff) }, b1, { ...w2, init: xavier(ff, d) }, b2];
}

/** torch.nn.MultiheadAttention: one [3d, d] input projection sliced into q, k and v. */
function mha(
  p: Params,
  name: string,
  query: tf.Tensor,
  memory: tf.Tensor,
  bias: tf.Tensor | null,
  c: Seq2SeqConfig,
  opts: Opts,
  site: number,
): tf.Tensor {
  const d = c.d_model;
  const w = p[`${name}.in_proj_weight`];
  const b = p[`${name}.in_proj_bias`];
  let q: tf.Tensor, k: tf.Tensor, v: tf.Tensor;
  if (query === memory) {
    // Self-attention: one matmul for q, k and v, split after (fewer kernels than three slices).
    [q, k, v] = tf.split(linear(query, w, b), 3, -1);
  } else {
    q = linear(query, tf.slice(w, [0, 0], [d, d]), tf.slice(b, [0], [d]));
    [k, v] = tf.split(linear(memory, tf.slice(w, [d, 0], [2 * d, d]), tf.slice(b, [d], [2 * d])), 2, -1);
  }
  const out = attention(q, k, v, c.n_head, bias, c.dropout, opts, site);
  return linear(out, p[`${name}.out_proj.weight`], p[`${name}.out_proj.bias`]);
}

function feedForward(p: Params, name: string, x: tf.Tensor, c: Seq2SeqConfig, opts: Opts, site: number): tf.Tensor {
  const h = dropout(tf.relu(linear(x, p[`${name}.linear1.weight`], p[`${name}.linear1.bias`])), c.dropout, opts, site);
  return linear(h, p[`${name}.linear2.weight`], p[`${name}.linear2.bias`]);
}

function embedScaled(table: tf.Tensor, ids: tf.Tensor, c: Seq2SeqConfig, opts: Opts, site: number): tf.Tensor {
  const t = ids.shape[1]!;
  const x = tf.add(tf.mul(embed(table, ids), Math.sqrt(c.d_model)), sinusoidalPositions(t, c.d_model));
  return dropout(x, c.dropout, opts, site);
}

const norm = (p: Params, name: string, x: tf.Tensor) => layerNorm(x, p[`${name}.weight`], p[`${name}.bias`]);

/** The encoder's output [B, S, d] for source ids [B, S] (0 = padding). */
export function encode(p: Params, src: tf.Tensor, c: Seq2SeqConfig, opts: Opts): tf.Tensor {
  const srcBias = paddingBias(src);
  let x = embedScaled(p['src_emb.weight'], src, c, opts, 1);
  for (let i = 0; i < c.enc_layers; i++) {
    const l = `encoder.layers.${i}`;
    const site = 10 + 10 * i;
    const h = norm(p, `${l}.norm1`, x);
    x = tf.add(x, dropout(mha(p, `${l}.self_attn`, h, h, srcBias, c, opts, site), c.dropout, opts, site + 1));
    x = tf.add(x, dropout(feedForward(p, l, norm(p, `${l}.norm2`, x), c, opts, site + 2), c.dropout, opts, site + 3));
  }
  return norm(p, 'encoder.norm', x);
}

/** Logits [B, T, vocab_size] for decoder inputs [B, T] given the encoder's output. */
export function decode(
  p: Params,
  memory: tf.Tensor,
  src: tf.Tensor,
  tgtIn: tf.Tensor,
  c: Seq2SeqConfig,
  opts: Opts,
): tf.Tensor {
  const srcBias = paddingBias(src);
  const causal = causalBias(tgtIn.shape[1]!);
  let x = embedScaled(p['tgt_emb.weight'], tgtIn, c, opts, 2);
  for (let i = 0; i < c.dec_layers; i++) {
    const l = `decoder.layers.${i}`;
    const site = 1000 + 10 * i;
    let h = norm(p, `${l}.norm1`, x);
    x = tf.add(x, dropout(mha(p, `${l}.self_attn`, h, h, causal, c, opts, site), c.dropout, opts, site + 1));
    h = norm(p, `${l}.norm2`, x);
    x = tf.add(
      x,
      dropout(mha(p, `${l}.multihead_attn`, h, memory, srcBias, c, opts, site + 2), c.dropout, opts, site + 3),
    );
    x = tf.add(x, dropout(feedForward(p, l, norm(p, `${l}.norm3`, x), c, opts, site + 4), c.dropout, opts, site + 5));
  }
  return linear(norm(p, 'decoder.norm', x), p['generator.weight'], p['generator.bias']);
}

export const seq2seq: ModelDefinition<Seq2SeqConfig> = {
  kind: 'seq2seq',
  topologyKeys: ['src_vocab_size', 'vocab_size', 'd_model', 'n_head', 'd_ff', 'enc_layers', 'dec_layers'],

  paramSpecs(c): ParamSpec[] {
    const d = c.d_model;
    const embInit = { kind: 'normal', std: 1 / Math.sqrt(d) } as const;
    const specs: ParamSpec[] = [
      { name: 'src_emb.weight', shape: [c.src_vocab_size, d], init: embInit },
      { name: 'tgt_emb.weight', shape: [c.vocab_size, d], init: embInit },
    ];
    for (let i = 0; i < c.enc_layers; i++) {
      const l = `encoder.layers.${i}`;
      specs.push(
        ...mhaSpecs(`${l}.self_attn`, d),
        ...ffSpecs(l, d, c.d_ff),
        ...normSpecs(`${l}.norm1`, d),
        ...normSpecs(`${l}.norm2`, d),
      );
    }
    specs.push(...normSpecs('encoder.norm', d));
    for (let i = 0; i < c.dec_layers; i++) {
      const l = `decoder.layers.${i}`;
      specs.push(
        ...mhaSpecs(`${l}.self_attn`, d),
        ...mhaSpecs(`${l}.multihead_attn`, d),
        ...ffSpecs(l, d, c.d_ff),
        ...normSpecs(`${l}.norm1`, d),
        ...normSpecs(`${l}.norm2`, d),
        ...normSpecs(`${l}.norm3`, d),
      );
    }
    specs.push(...normSpecs('decoder.norm', d), ...linearSpecs('generator', d, c.vocab_size));
    return specs;
  },

  /** x: [B, src_len + T] = [src | tgt_in]. Returns [B, T, vocab_size]. */
  logits(p: Params, x: tf.Tensor, c, opts): tf.Tensor {
    const [b, width] = x.shape as [number, number];
    const src = tf.slice(x, [0, 0], [b, c.src_len]);
    const tgtIn = tf.slice(x, [0, c.src_len], [b, width - c.src_len]);
    return decode(p, encode(p, src, c, opts), src, tgtIn, c, opts);
  },
};
