import { useWasmBackend } from '@flotilla/algorithms';

/**
 * Native TensorFlow (tfjs-node or tfjs-node-gpu) when the optional package is installed on this
 * machine, else the WebAssembly backend. Loaded by name at run time, so installs without it work.
 */
export async function selectBackend(): Promise<string> {
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require(name);
      return name;
    } catch {
      // not installed here
    }
  }
  return useWasmBackend();
}
