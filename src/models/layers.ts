/** Building blocks shared by the models, in PyTorch's layouts. */
import * as tf from '@tensorflow/tfjs';

/** y = x Wᵀ + b with W in PyTorch's [out, in] layout; x may have any leading dimensions. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const [out, inF] = weight.shape;
  const lead = x.shape.slice(0, -1);
  const y = tf.matMul(x.reshape([-1, inF]) as tf.Tensor2D, weight as tf.Tensor2D, false, true);
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
