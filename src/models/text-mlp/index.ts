/**
 * A text classifier: an MLP over a bag of hashed character n-grams (fastText's features without
 * its embedding bag). Input: [B, n_features] feature values (the task hashes and normalises);
 * one ReLU hidden layer with dropout; logits over the classes.
 * PyTorch twin: `layers = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(),
 * nn.Linear(hidden, n_classes))`, hence `layers.0.*` and `layers.2.*`; the dropout after the ReLU
 * is functional (F.dropout in forward), so it takes no index in the Sequential.
 */
import * as tf from '@tensorflow/tfjs';
import { dropout, linear } from '../layers';
import { linearSpecs, type ModelConfig, type ModelDefinition, type ParamSpec, type Params } from '../types';

export interface TextMlpConfig extends ModelConfig {
  kind: 'text-mlp';
  /** The number of hash buckets: the input width (the "vocabulary" of hashed features). */
  vocab_size: number;
  ngram_min: number;
  ngram_max: number;
  hidden: number;
  n_classes: number;
  dropout: number;
}

export const textMlp: ModelDefinition<TextMlpConfig> = {
  kind: 'text-mlp',
  // The n-gram lengths change what each input means, not its shape: a model trained on other
  // features is another model, so they fix the topology too.
  topologyKeys: ['vocab_size', 'ngram_min', 'ngram_max', 'hidden', 'n_classes'],

  paramSpecs(c): ParamSpec[] {
    return [...linearSpecs('layers.0', c.vocab_size, c.hidden), ...linearSpecs('layers.2', c.hidden, c.n_classes)];
  },

  logits(p: Params, x: tf.Tensor, c, opts): tf.Tensor {
    const h = dropout(tf.relu(linear(x, p['layers.0.weight'], p['layers.0.bias'])), c.dropout, opts, 0);
    return linear(h, p['layers.2.weight'], p['layers.2.bias']);
  },
};
