/**
 * A small decoder-only transformer (GPT-2's shape, nanoGPT's sizes and init): token and learned
 * position embeddings, pre-LN blocks of causal self-attention and a GELU MLP, a final layer norm,
 * and an output layer that is either its own `head.weight` or the token embedding (tied).
 *
 * PyTorch twin, by parameter name (all in PyTorch's layouts, linear weights [out, in]):
 *   tok_emb        nn.Embedding(vocab_size, n_embd)
 *   pos_emb        nn.Embedding(block_size, n_embd)
 *   blocks.{i}.ln1           nn.LayerNorm(n_embd)
 *   blocks.{i}.attn.qkv      nn.Linear(n_embd, 3·n_embd): q, k, v stacked on the output axis in
 *                            that order (nanoGPT's fused c_attn; one matmul instead of three)
 *   blocks.{i}.attn.proj     nn.Linear(n_embd, n_embd)
 *   blocks.{i}.ln2           nn.LayerNorm(n_embd)
 *   blocks.{i}.mlp.fc        nn.Linear(n_embd, n_ffn), then GELU with approximate='tanh'
 *   blocks.{i}.mlp.proj      nn.Linear(n_ffn, n_embd)
 *   ln_f           nn.LayerNorm(n_embd)
 *   head           nn.Linear(n_embd, vocab_size, bias=False); absent when tie_weights
 *                  (then logits = x · tok_emb.weightᵀ)
 * Dropout (one rate) after the embeddings, on the attention probabilities, and on each residual
 * branch, as in nanoGPT; masks come from the step's seed.
 */
import * as tf from '@tensorflow/tfjs';
import { attention, causalBias, dropout, embed, geluTanh, layerNorm, linear } from '../layers';
import type { ModelConfig, ModelDefinition, ParamSpec, Params } from '../types';

export interface GptConfig extends ModelConfig {
  kind: 'gpt';
  vocab_size: number;
  /** Longest sequence the position embedding covers. */
  block_size: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_ffn: number;
  tie_weights: boolean;
  dropout: number;
}

const normal = (std: number) => ({ kind: 'normal', std }) as const;
const zeros = { kind: 'const', value: 0 } as const;
const ones = { kind: 'const', value: 1 } as const;

function normSpecs(name: string, c: number): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [c], init: ones },
    { name: `${name}.bias`, shape: [c], init: zeros },
  ];
}

/** nanoGPT's init: N(0, 0.02) weights, zero biases; residual projections scaled by 1/sqrt(2·n_layer). */
function linearSpecs02(name: string, inF: number, outF: number, std = 0.02): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [outF, inF], init: normal(std) },
    { name: `${name}.bias`, shape: [outF], init: zeros },
  ];
}

export const gpt: ModelDefinition<GptConfig> = {
  kind: 'gpt',
  topologyKeys: ['vocab_size', 'block_size', 'n_embd', 'n_layer', 'n_head', 'n_ffn', 'tie_weights'],

  paramSpecs(c): ParamSpec[] {
    const projStd = 0.02 / Math.sqrt(2 * c.n_layer);
    const specs: ParamSpec[] = [
      { name: 'tok_emb.weight', shape: [c.vocab_size, c.n_embd], init: normal(0.02) },
      { name: 'pos_emb.weight', shape: [c.block_size, c.n_embd], init: normal(0.02) },
    ];
    for (let i = 0; i < c.n_layer; i++) {
      const p = `blocks.${i}`;
      specs.push(
        ...normSpecs(`${p}.ln1`, c.n_embd),
        ...linearSpecs02(`${p}.attn.qkv`, c.n_embd, 3 * c.n_embd),
        ...linearSpecs02(`${p}.attn.proj`, c.n_embd, c.n_embd, projStd),
        ...normSpecs(`${p}.ln2`, c.n_embd),
        ...linearSpecs02(`${p}.mlp.fc`, c.n_embd, c.n_ffn),
        ...linearSpecs02(`${p}.mlp.proj`, c.n_ffn, c.n_embd, projStd),
      );
    }
    specs.push(...normSpecs('ln_f', c.n_embd));
    if (!c.tie_weights) specs.push({ name: 'head.weight', shape: [c.vocab_size, c.n_embd], init: normal(0.02) });
    return specs;
  },

  /** x: [B, T] token ids, T ≤ block_size. Returns [B, T, vocab_size]. */
  logits(p: Params, x: tf.Tensor, c, opts): tf.Tensor {
    const t = x.shape[1]!;
    if (t > c.block_size) throw new Error(`sequence of ${t} is longer than the block size ${c.block_size}`);
    const pos = tf.slice(p['pos_emb.weight'], [0, 0], [t, c.n_embd]);
    let h = dropout(tf.add(embed(p['tok_emb.weight'], x), pos), c.dropout, opts, 0);
    const mask = causalBias(t);
    for (let i = 0; i < c.n_layer; i++) {
      const b = `blocks.${i}`;
      const site = 1 + 4 * i;
      const a = layerNorm(h, p[`${b}.ln1.weight`], p[`${b}.ln1.bias`]);
      const qkv = linear(a, p[`${b}.attn.qkv.weight`], p[`${b}.attn.qkv.bias`]);
      const [q, k, v] = tf.split(qkv, 3, -1);
      const att = attention(q, k, v, c.n_head, mask, c.dropout, opts, site);
      h = tf.add(
        h,
        dropout(linear(att, p[`${b}.attn.proj.weight`], p[`${b}.attn.proj.bias`]), c.dropout, opts, site + 1),
      );
      const m = layerNorm(h, p[`${b}.ln2.weight`], p[`${b}.ln2.bias`]);
      const f = geluTanh(linear(m, p[`${b}.mlp.fc.weight`], p[`${b}.mlp.fc.bias`]));
      h = tf.add(h, dropout(linear(f, p[`${b}.mlp.proj.weight`], p[`${b}.mlp.proj.bias`]), c.dropout, opts, site + 2));
    }
    h = layerNorm(h, p['ln_f.weight'], p['ln_f.bias']);
    return linear(h, c.tie_weights ? p['tok_emb.weight'] : p['head.weight']);
  },
};
