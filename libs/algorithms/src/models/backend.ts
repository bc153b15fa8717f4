import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as path from 'node:path';
import { registerMissingWasmKernels } from './wasm-conv-grad';

/**
 * Selects the WebAssembly backend (about 10x faster than the pure-JS one), falling back to 'cpu'.
 * Native backends (tfjs-node / tfjs-node-gpu) are loaded by the agent app when installed; this
 * library never imports them. The wasm backend gets the convolution filter gradient it lacks
 * (wasm-conv-grad.ts), so `cnn` and `layers` models train on it.
 */
export async function useWasmBackend(): Promise<string> {
  registerMissingWasmKernels();
  if (tf.getBackend() === 'wasm' || tf.getBackend() === 'tensorflow') return tf.getBackend();
  try {
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    setWasmPaths(dist + path.sep);
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      return 'wasm';
    }
  } catch {
    // fall through to cpu
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return 'cpu';
}
