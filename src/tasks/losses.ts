/** Losses shared by the tasks, built from ops every backend has (no sparse gathers). */
import * as tf from '@tensorflow/tfjs';

/**
 * Mean cross-entropy of logits [..., V] against integer targets [...]. With `ignoreId`, targets
 * equal to it (padding) count for nothing and the mean is over the rest, like PyTorch's
 * CrossEntropyLoss(ignore_index=...).
 */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor, ignoreId?: number): tf.Scalar {
  const v = logits.shape[logits.shape.length - 1];
  const flatLogits = logits.reshape([-1, v]);
  const flatTargets = targets.flatten().toInt();
  const picked = tf.sum(tf.mul(tf.logSoftmax(flatLogits, -1), tf.oneHot(flatTargets, v)), -1);
  if (ignoreId === undefined) return tf.neg(tf.mean(picked)) as tf.Scalar;
  const mask = tf.cast(tf.notEqual(flatTargets, ignoreId), 'float32');
  return tf.div<tf.Scalar>(tf.neg(tf.sum(tf.mul(picked, mask))), tf.maximum(tf.sum(mask), 1));
}

/** Row indices start..end-1 as the Int32Array a batch takes. */
export function range(start: number, end: number): Int32Array {
  return Int32Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
}
