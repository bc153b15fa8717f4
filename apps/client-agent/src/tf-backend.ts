import { useWasmBackend } from '@flotilla/algorithms';
import type { AgentBackend } from '@flotilla/contracts';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';

/** The backend the agent computes with and what it runs on, as it reports them to the coordinator. */
export interface ComputeBackend {
  backend: AgentBackend;
  device: string;
}

/** The native packages, GPU first: loaded by name at run time, so installs without them work. */
const NATIVE: [string, AgentBackend][] = [
  ['@tensorflow/tfjs-node-gpu', 'tensorflow-gpu'],
  ['@tensorflow/tfjs-node', 'tensorflow'],
];

/**
 * Native TensorFlow (tfjs-node-gpu, else tfjs-node) when the optional package is installed on this machine, else the
 * WebAssembly backend (or tfjs's plain JavaScript one when WebAssembly will not load); with the device it runs on.
 */
export async function selectBackend(): Promise<ComputeBackend> {
  for (const [name, backend] of NATIVE) {
    try {
      require(name);
    } catch {
      continue; // not installed here
    }
    return { backend, device: describeDevice(backend, os.cpus(), backend === 'tensorflow-gpu' ? gpuNames() : []) };
  }
  const backend = (await useWasmBackend()) === 'cpu' ? 'cpu' : 'wasm';
  return { backend, device: describeDevice(backend, os.cpus(), []) };
}

/**
 * What a backend computes on, for operators: `gpu: <names>` for tfjs-node-gpu (`gpu` when no name is known), else
 * `cpu: <model> ×<cores>`; at most 200 characters of printable text.
 */
export function describeDevice(backend: AgentBackend, cpus: readonly { model: string }[], gpus: readonly string[]): string {
  let text: string;
  if (backend === 'tensorflow-gpu') {
    const names = [...new Set(gpus)].map((g) => {
      const n = gpus.filter((x) => x === g).length;
      return n > 1 ? `${n} × ${g}` : g;
    });
    text = names.length ? `gpu: ${names.join(', ')}` : 'gpu';
  } else {
    const model = cpus[0]?.model.trim();
    text = model ? `cpu: ${model} ×${cpus.length}` : 'cpu';
  }
  // Names come from the system: no control characters, no runs of spaces, bounded like the coordinator's schema.
  return (
    text
      .replace(/[\p{Cc}\p{Cs}]/gu, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 200) || 'unknown'
  );
}

/** The GPUs' names as nvidia-smi reports them (none where it is missing or fails). */
function gpuNames(): string[] {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}
