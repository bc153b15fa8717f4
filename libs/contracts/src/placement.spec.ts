import { CreateJobSchema } from './jobs.schema';
import { HeartbeatSchema, RegisterAgentSchema } from './agents.schema';
import {
  AgentLabelsSchema,
  describePlacement,
  labelKeyProblem,
  labelValueProblem,
  MAX_AGENT_LABELS,
  parseLabels,
  placementMatches,
  splitLabelList,
} from './placement';

describe('agent labels (placement)', () => {
  it('keys follow Kubernetes label keys: [DNS prefix/]name, the name at most 63 characters', () => {
    const n63 = 'a'.repeat(63);
    for (const ok of ['gpu', 'GPU', 'a', 'gpu.type', 'gpu_type', 'zone-2', n63, 'example.com/gpu', 'flotilla.dev/site', 'k8s.io/a-b'])
      expect([ok, labelKeyProblem(ok)]).toEqual([ok, null]);
    const bad: [string, RegExp][] = [
      ['', /must not be empty/],
      ['a'.repeat(64), /64 characters; at most 63/],
      ['-gpu', /name must be letters, digits/],
      ['gpu-', /name must be letters, digits/],
      ['gpu type', /name must be letters, digits/],
      ['gpü', /name must be letters, digits/],
      ['Example.com/gpu', /prefix 'Example.com' must be a DNS subdomain/],
      ['/gpu', /prefix '' must be a DNS subdomain/],
      ['a/b/c', /prefix 'a\/b' must be a DNS subdomain/],
      ['example.com/', /must not be empty/],
      [`${'a'.repeat(64)}.com/gpu`, /DNS subdomain/],
    ];
    for (const [key, message] of bad) expect([key, labelKeyProblem(key)]).toEqual([key, expect.stringMatching(message)]);
  });

  it('values are empty or a name of at most 63 characters', () => {
    for (const ok of ['', 'true', 'eu-west-1', 'A100_80GB', 'v1.2', 'x'.repeat(63)])
      expect([ok, labelValueProblem(ok)]).toEqual([ok, null]);
    expect(labelValueProblem('x'.repeat(64))).toBe('the value has 64 characters; at most 63');
    for (const bad of ['eu west', 'a,b', '-x', 'x.', 'ja=nein', 'ü'])
      expect([bad, labelValueProblem(bad)]).toEqual([bad, expect.stringMatching(/must be empty or/)]);
  });

  it('parseLabels: key=value arguments (the first = splits), every problem named by its label', () => {
    expect(parseLabels(['gpu=true', 'region=eu', 'example.com/rack='])).toEqual({
      labels: { gpu: 'true', region: 'eu', 'example.com/rack': '' },
      problems: [],
    });
    expect(parseLabels(['gpu', 'gpu=true', 'gpu=false', 'bad key=1', 'zone=eu west', 'x=a=b']).problems).toEqual([
      "label 'gpu': expected key=value",
      "label 'gpu': given twice",
      "label 'bad key': the key's name must be letters, digits, '-', '_' and '.', beginning and ending with a letter or digit",
      "label 'zone': the value must be empty or letters, digits, '-', '_' and '.', beginning and ending with a letter or digit",
      "label 'x': the value must be empty or letters, digits, '-', '_' and '.', beginning and ending with a letter or digit",
    ]);
    const many = Array.from({ length: MAX_AGENT_LABELS + 1 }, (_, i) => `k${i}=v`);
    expect(parseLabels(many.slice(0, MAX_AGENT_LABELS)).problems).toEqual([]);
    expect(parseLabels(many).problems).toEqual([`${MAX_AGENT_LABELS + 1} labels; at most ${MAX_AGENT_LABELS}`]);
  });

  it('splitLabelList: a comma-separated environment variable, blanks ignored', () => {
    expect(splitLabelList(' gpu=true, region=eu ,,')).toEqual(['gpu=true', 'region=eu']);
    expect(splitLabelList('')).toEqual([]);
  });

  it('the schemas refuse what the parser refuses, with the label in the path and the message', () => {
    expect(AgentLabelsSchema.parse({ gpu: 'true', 'example.com/rack': '' })).toEqual({ gpu: 'true', 'example.com/rack': '' });
    const r = RegisterAgentSchema.safeParse({
      joinToken: 't',
      name: 'a',
      datasets: ['d'],
      labels: { gpu: 'true', 'bad key': 'x', zone: 'eu west' },
    });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['labels.bad key', expect.stringMatching(/^label 'bad key': the key's name must be/)],
      ['labels.zone', expect.stringMatching(/^label 'zone': the value must be empty or/)],
    ]);
    const tooMany = Object.fromEntries(Array.from({ length: MAX_AGENT_LABELS + 1 }, (_, i) => [`k${i}`, 'v']));
    expect(HeartbeatSchema.safeParse({ labels: tooMany }).error!.issues[0]).toMatchObject({
      path: ['labels'],
      message: `33 labels; at most 32`,
    });
    expect(HeartbeatSchema.safeParse({ labels: { gpu: 1 } }).success).toBe(false);
    expect(HeartbeatSchema.safeParse({ backend: 'tensorflow_gpu' }).success).toBe(false);
    expect(HeartbeatSchema.safeParse({ device: 'x'.repeat(201) }).success).toBe(false);
  });

  it('every job kind takes agentSelector (checked like labels) and backend, defaulting to any agent', () => {
    const federated = { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1 };
    const specs = [federated, { kind: 'nas', dataset: 'uci-digits' }, { kind: 'bilevel', problem: { kind: 'test-case', name: 'T1' } }];
    for (const spec of specs) {
      expect(CreateJobSchema.parse(spec)).toMatchObject({ agentSelector: {}, backend: null });
      expect(CreateJobSchema.parse({ ...spec, agentSelector: { gpu: 'true' }, backend: 'tensorflow-gpu' })).toMatchObject({
        agentSelector: { gpu: 'true' },
        backend: 'tensorflow-gpu',
      });
      const bad = CreateJobSchema.safeParse({ ...spec, agentSelector: { 'gpu/': 'true' }, backend: 'cuda' });
      expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['agentSelector.gpu/', 'backend']);
    }
  });
});

describe('placementMatches', () => {
  const agent = { labels: { gpu: 'true', region: 'eu', rack: '' }, backend: 'tensorflow-gpu' };
  const any = { agentSelector: {}, backend: null };

  it('every selector key must be present with exactly its value; other labels do not matter', () => {
    expect(placementMatches(agent, any)).toBe(true);
    expect(placementMatches(agent, { agentSelector: { gpu: 'true' }, backend: null })).toBe(true);
    expect(placementMatches(agent, { agentSelector: { gpu: 'true', region: 'eu', rack: '' }, backend: null })).toBe(true);
    expect(placementMatches(agent, { agentSelector: { gpu: 'True' }, backend: null })).toBe(false); // exact, case included
    expect(placementMatches(agent, { agentSelector: { gpu: 'true', zone: 'a' }, backend: null })).toBe(false);
    expect(placementMatches(agent, { agentSelector: { region: '' }, backend: null })).toBe(false);
    // An empty value matches only a label that is present and empty.
    expect(placementMatches(agent, { agentSelector: { rack: '' }, backend: null })).toBe(true);
    expect(placementMatches({ labels: {}, backend: null }, { agentSelector: { rack: '' }, backend: null })).toBe(false);
    // Keys of Object.prototype are no labels.
    expect(placementMatches({ labels: {}, backend: null }, { agentSelector: { constructor: '' }, backend: null })).toBe(false);
  });

  it('a backend requirement matches that backend only; an agent that reported none matches no requirement', () => {
    expect(placementMatches(agent, { agentSelector: {}, backend: 'tensorflow-gpu' })).toBe(true);
    expect(placementMatches(agent, { agentSelector: {}, backend: 'tensorflow' })).toBe(false);
    expect(placementMatches({ labels: {}, backend: null }, { agentSelector: {}, backend: 'wasm' })).toBe(false);
    expect(placementMatches({ labels: {}, backend: null }, any)).toBe(true);
  });

  it('describePlacement: keys sorted, values quoted', () => {
    expect(describePlacement({ agentSelector: { region: 'eu', gpu: 'true' }, backend: null })).toBe('{gpu: "true", region: "eu"}');
    expect(describePlacement({ agentSelector: { gpu: 'true' }, backend: 'wasm' })).toBe('{gpu: "true"} and backend wasm');
    expect(describePlacement({ agentSelector: {}, backend: 'tensorflow' })).toBe('backend tensorflow');
    expect(describePlacement(any)).toBe('any agent');
  });
});
