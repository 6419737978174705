/**
 * A character-level MLP language model in the style of Bengio et al. 2003 (makemore's MLP):
 * embed the last `context` characters, one tanh hidden layer, logits over the vocabulary.
 * PyTorch twin: Embedding(vocab, embed) as `embedding`, Sequential(Linear, Tanh, Linear) as `layers`.
 */
import * as tf from '@tensorflow/tfjs';
import { embed, linear } from '../layers';
import { linearSpecs, type ModelConfig, type ModelDefinition, type ParamSpec, type Params } from '../types';

export interface CharMlpConfig extends ModelConfig {
  kind: 'char-mlp';
  vocab_size: number;
  context: number;
  embed: number;
  hidden: number;
}

export const charMlp: ModelDefinition<CharMlpConfig> = {
  kind: 'char-mlp',
  topologyKeys: ['vocab_size', 'context', 'embed', 'hidden'],

  paramSpecs(c): ParamSpec[] {
    return [
      { name: 'embedding.weight', shape: [c.vocab_size, c.embed], init: { kind: 'normal', std: 1 } },
      ...linearSpecs('layers.0', c.context * c.embed, c.hidden),
      ...linearSpecs('layers.2', c.hidden, c.vocab_size),
    ];
  },

  logits(p: Params, x: tf.Tensor, c): tf.Tensor {
    const batch = x.shape[0];
    const emb = embed(p['embedding.weight'], x).reshape([batch, c.context * c.embed]);
    const h = tf.tanh(linear(emb, p['layers.0.weight'], p['layers.0.bias']));
    return linear(h, p['layers.2.weight'], p['layers.2.bias']);
  },
};
