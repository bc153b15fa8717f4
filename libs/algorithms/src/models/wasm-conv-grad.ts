import * as tf from '@tensorflow/tfjs';

/**
 * The filter gradient of a 2-D convolution (`Conv2DBackpropFilter`), which @tensorflow/tfjs-backend-wasm 4.22 lacks
 * (it has Conv2D and Conv2DBackpropInput): without it no convolutional model trains on wasm. This is the cpu
 * backend's loop (NHWC), reading the wasm heap and writing the result into it, so a `cnn` or `layers` training step
 * runs on the backend the agents and the coordinator use. Filters of the small nets Flotilla trains are a few
 * thousand values, so a JS loop costs little next to the forward pass.
 */
function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as {
    strides: [number, number] | number;
    pad: 'same' | 'valid' | number;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  if (attrs.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is implemented');
  const backend = args.backend as tf.KernelBackend & {
    makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
    typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  };
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const xs = backend.readSync(x.dataId) as Float32Array;
  const dys = backend.readSync(dy.dataId) as Float32Array;
  const out = backend.makeOutput(info.filterShape, 'float32');
  const dw = backend.typedArrayFromHeap(out);
  const { inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  for (let wr = 0; wr < info.filterHeight; wr++) {
    const yrMin = Math.max(0, Math.ceil((top - wr) / strideHeight));
    const yrMax = Math.min(outHeight, (inHeight + top - wr) / strideHeight);
    for (let wc = 0; wc < info.filterWidth; wc++) {
      const ycMin = Math.max(0, Math.ceil((left - wc) / strideWidth));
      const ycMax = Math.min(outWidth, (inWidth + left - wc) / strideWidth);
      for (let d1 = 0; d1 < inChannels; d1++) {
        for (let d2 = 0; d2 < outChannels; d2++) {
          let dot = 0;
          for (let b = 0; b < info.batchSize; b++) {
            for (let yr = yrMin; yr < yrMax; yr++) {
              const xr = wr + yr * strideHeight - top;
              for (let yc = ycMin; yc < ycMax; yc++) {
                const xc = wc + yc * strideWidth - left;
                dot +=
                  xs[((b * inHeight + xr) * inWidth + xc) * inChannels + d1] *
                  dys[((b * outHeight + yr) * outWidth + yc) * outChannels + d2];
              }
            }
          }
          dw[((wr * info.filterWidth + wc) * inChannels + d1) * outChannels + d2] = dot;
        }
      }
    }
  }
  return out;
}

/** Registers the kernels the wasm backend lacks for training layered models; idempotent, and a no-op once tfjs ships them. */
export function registerMissingWasmKernels(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter as tf.KernelFunc });
}
