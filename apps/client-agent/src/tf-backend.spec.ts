import { describeDevice } from './tf-backend';

describe('describeDevice: what an agent reports it computes on', () => {
  const cpus = (model: string, n: number) => Array.from({ length: n }, () => ({ model }));

  it('CPU backends: the first core model and the number of cores', () => {
    expect(describeDevice('wasm', cpus('AMD EPYC 7763 64-Core Processor  ', 16), [])).toBe('cpu: AMD EPYC 7763 64-Core Processor ×16');
    expect(describeDevice('tensorflow', cpus('Apple M2', 8), ['ignored'])).toBe('cpu: Apple M2 ×8');
    // Containers may report no CPUs at all.
    expect(describeDevice('cpu', [], [])).toBe('cpu');
  });

  it('tfjs-node-gpu: the GPU names nvidia-smi gives, identical ones counted; "gpu" when none is known', () => {
    expect(describeDevice('tensorflow-gpu', cpus('x', 4), ['NVIDIA H100 80GB HBM3'])).toBe('gpu: NVIDIA H100 80GB HBM3');
    expect(describeDevice('tensorflow-gpu', [], ['NVIDIA A100', 'NVIDIA A100', 'Tesla T4'])).toBe('gpu: 2 × NVIDIA A100, Tesla T4');
    expect(describeDevice('tensorflow-gpu', cpus('x', 4), [])).toBe('gpu');
  });

  it('fits the coordinator schema: control characters become spaces, runs of blanks one, at most 200 characters', () => {
    expect(describeDevice('wasm', cpus('Intel\u0000(R)\tXeon\n', 2), [])).toBe('cpu: Intel (R) Xeon ×2');
    expect(describeDevice('wasm', cpus('x'.repeat(300), 1), [])).toHaveLength(200);
  });
});
