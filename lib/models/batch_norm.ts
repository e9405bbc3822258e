/**
 * Batch normalization whose training step is one fused op.
 *
 * `FastBatchNormalization` is tfjs-layers' `BatchNormalization` with a
 * different training branch: batch statistics, normalization and all
 * gradients come from {@link fusedBatchNorm}, a `customGrad` op that runs
 * ferlab's fused wasm kernels when they are registered and the equivalent
 * composite TF.js ops elsewhere. Inference, weights and the saved config are
 * the stock layer's, and it registers under the stock class name, so saved
 * models load in any TF.js (as the stock layer) and in ferlab (as this one).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { BN_BACKWARD, BN_FORWARD } from "../backend/wasm/batch_norm.ts";

type T = tf.Tensor;

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Batch statistics over all but the last axis, as composite ops (any backend). */
function forwardOps(x: T, gamma: T, beta: T, epsilon: number): [T, T, T] {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const y = tf.batchNorm(x, mean, variance, beta, gamma, epsilon);
  return [y, mean, variance];
}

function backwardOps(dy: T, x: T, mean: T, variance: T, gamma: T, epsilon: number): [T, T, T] {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const n = x.size / x.shape[x.shape.length - 1];
  const inv = tf.rsqrt(tf.add(variance, epsilon));
  const xhat = tf.mul(tf.sub(x, mean), inv);
  const dbeta = tf.sum(dy, axes);
  const dgamma = tf.sum(tf.mul(dy, xhat), axes);
  const dx = tf.mul(
    tf.div(tf.mul(gamma, inv), n),
    tf.sub(tf.sub(tf.mul(dy, n), dbeta), tf.mul(xhat, dgamma)),
  );
  return [dx, dgamma, dbeta];
}

/**
 * Normalizes `x` with its own batch statistics (training mode). Returns the
 * output plus the batch mean and (biased) variance for the moving averages;
 * those two carry no gradient and are the caller's to dispose.
 */
export function fusedBatchNorm(
  x: T,
  gamma: T,
  beta: T,
  epsilon: number,
): { y: T; mean: T; variance: T } {
  let stats: [T, T] | null = null;
  const op = tf.customGrad((...args: (T | tf.GradSaveFunc)[]) => {
    const [x, gamma, beta] = args as T[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, mean, variance] = hasKernel(BN_FORWARD)
      ? tf.engine().runKernel(BN_FORWARD, { x, gamma, beta }, { epsilon }) as T[]
      : forwardOps(x, gamma, beta, epsilon);
    save([x, mean, variance, gamma]);
    stats = [tf.keep(tf.clone(mean)), tf.keep(tf.clone(variance))];
    return {
      value: y,
      gradFunc: (dy: T, saved: T[]) => {
        const [sx, smean, svar, sgamma] = saved;
        return hasKernel(BN_BACKWARD)
          ? tf.engine().runKernel(BN_BACKWARD, { dy, x: sx, mean: smean, variance: svar, gamma: sgamma }, {
            epsilon,
          }) as T[]
          : backwardOps(dy, sx, smean, svar, sgamma, epsilon);
      },
    };
  });
  const y = op(x, gamma, beta);
  const [mean, variance] = stats!;
  return { y, mean, variance };
}

// The stock layer class is not exported by name; reach it through its factory.
const StockBatchNormalization = tf.layers.batchNormalization({}).constructor as unknown as {
  new (args?: Record<string, unknown>): tf.layers.Layer;
  className: string;
};

// deno-lint-ignore no-explicit-any
type Internals = any;

/** `BatchNormalization` with a fused training step (see the module docs). */
export class FastBatchNormalization extends StockBatchNormalization {
  /** Registered under the stock name so saved models stay standard. */
  static override className = "BatchNormalization";

  override call(inputs: T | T[], kwargs: Record<string, unknown>): T | T[] {
    const self = this as Internals;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const lastAxis = self.axis === -1 || self.axis === x.rank - 1;
    if (!kwargs["training"] || !lastAxis || !self.scale || !self.center) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const { y, mean, variance } = fusedBatchNorm(x, self.gamma.read(), self.beta.read(), self.epsilon);
      // moving averages, Keras-style: v ← v − (v − batch)·(1 − momentum)
      for (const [variable, value] of [[self.movingMean, mean], [self.movingVariance, variance]]) {
        tf.tidy(() => {
          const orig = variable.read();
          variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - self.momentum)));
        });
        value.dispose();
      }
      return y;
    });
  }
}
tf.serialization.registerClass(
  FastBatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>,
);

/** Creates a {@link FastBatchNormalization} layer (same options as `tf.layers.batchNormalization`). */
export function batchNormalization(args: Parameters<typeof tf.layers.batchNormalization>[0] = {}): tf.layers.Layer {
  return new FastBatchNormalization(args as Record<string, unknown>);
}
