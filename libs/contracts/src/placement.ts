import { z } from 'zod';
import { safeText } from './common';

/**
 * Placement: what an agent says about itself (labels, its TensorFlow.js backend and device) and what a job asks of
 * the agents that compute for it (an `agentSelector` over the labels, a `backend`). Everything here is declared by
 * the agents themselves: a selector places work, it is no security boundary (SECURITY.md).
 */

/** At most this many labels on an agent, and keys in a job's agentSelector. */
export const MAX_AGENT_LABELS = 32;

/** A label name, and each part of a key's prefix: at most 63 characters (as Kubernetes label names and values). */
const NAME_MAX = 63;
/** A key's DNS prefix (`example.com` in `example.com/gpu`): at most 253 characters. */
const PREFIX_MAX = 253;
const NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

const NAME_RULE = "letters, digits, '-', '_' and '.', beginning and ending with a letter or digit";

/**
 * What is wrong with a label key, or null when it is valid. Keys follow Kubernetes label keys: a name of at most 63
 * characters (letters, digits, `-`, `_`, `.`, beginning and ending with a letter or digit), optionally after a DNS
 * subdomain prefix and a slash (`example.com/gpu`).
 */
export function labelKeyProblem(key: string): string | null {
  const slash = key.lastIndexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (!prefix || prefix.length > PREFIX_MAX || !prefix.split('.').every((p) => p.length <= NAME_MAX && DNS_LABEL.test(p)))
      return `the key's prefix '${prefix}' must be a DNS subdomain (lower-case letters, digits, '-' and '.', at most ${PREFIX_MAX} characters)`;
  }
  if (!name) return 'the key must not be empty';
  if (name.length > NAME_MAX) return `the key's name has ${name.length} characters; at most ${NAME_MAX}`;
  if (!NAME.test(name)) return `the key's name must be ${NAME_RULE}`;
  return null;
}

/** What is wrong with a label value, or null when it is valid: empty, or a name as for keys (at most 63 characters). */
export function labelValueProblem(value: string): string | null {
  if (value.length > NAME_MAX) return `the value has ${value.length} characters; at most ${NAME_MAX}`;
  if (value && !NAME.test(value)) return `the value must be empty or ${NAME_RULE}`;
  return null;
}

/** Every problem of a label map, each naming its label (`label 'gpu': …`); empty when it is valid. */
export function labelsProblems(labels: Record<string, string>): { key: string | null; message: string }[] {
  const out: { key: string | null; message: string }[] = [];
  const keys = Object.keys(labels);
  if (keys.length > MAX_AGENT_LABELS) out.push({ key: null, message: `${keys.length} labels; at most ${MAX_AGENT_LABELS}` });
  for (const key of keys) {
    const problem =
      labelKeyProblem(key) ?? (typeof labels[key] === 'string' ? labelValueProblem(labels[key]) : 'the value must be a string');
    if (problem) out.push({ key, message: `label '${key}': ${problem}` });
  }
  return out;
}

/** A label map as JSON carries it: `{"gpu": "true", "region": "eu"}`, each key and value checked (errors name the label). */
function labelMap() {
  return z.record(safeText(), z.string()).superRefine((labels, ctx) => {
    for (const p of labelsProblems(labels)) ctx.addIssue({ code: 'custom', path: p.key === null ? [] : [p.key], message: p.message });
  });
}

/** An agent's labels, as it declares them (`--label key=value`): free-form placement hints such as `gpu=true`. */
export const AgentLabelsSchema = labelMap();
export type AgentLabels = Record<string, string>;

/** A job's agentSelector: only agents whose labels have every one of these keys with exactly this value are eligible. */
export const AgentSelectorSchema = labelMap();
export type AgentSelector = Record<string, string>;

/**
 * The TensorFlow.js backend an agent computes with: `wasm` (the default, @tensorflow/tfjs-backend-wasm), `cpu`
 * (tfjs's plain JavaScript backend, when WebAssembly would not load), `tensorflow` (native TensorFlow on the CPU,
 * @tensorflow/tfjs-node installed beside the agent), `tensorflow-gpu` (native TensorFlow with CUDA,
 * @tensorflow/tfjs-node-gpu).
 */
export const AGENT_BACKENDS = ['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const;
export type AgentBackend = (typeof AGENT_BACKENDS)[number];
export const AgentBackendSchema = z.enum(AGENT_BACKENDS);

/** What an agent computes on, for operators (e.g. `cpu: AMD EPYC 7763 ×16`, `gpu: NVIDIA H100 80GB HBM3`). */
export const AgentDeviceSchema = safeText().min(1).max(200);

/** The placement fields every job kind's spec has (spread into each kind's schema). */
export const placementFields = {
  /** Only agents whose labels include every key of this map with exactly its value are eligible (default: any agent). */
  agentSelector: AgentSelectorSchema.default({}),
  /** Only agents computing with this TensorFlow.js backend are eligible (default null: any backend). */
  backend: AgentBackendSchema.nullable().default(null),
};

/** What a job asks of the agents it may use besides its dataset: its agentSelector and backend. */
export interface Placement {
  agentSelector: AgentSelector;
  backend: AgentBackend | null;
}

/** Whether an agent with these labels and backend is eligible under `placement` (an agent that reported no backend matches none). */
export function placementMatches(agent: { labels: AgentLabels; backend: string | null }, placement: Placement): boolean {
  if (placement.backend !== null && agent.backend !== placement.backend) return false;
  for (const [key, value] of Object.entries(placement.agentSelector)) {
    if (!Object.hasOwn(agent.labels, key) || agent.labels[key] !== value) return false;
  }
  return true;
}

/** Whether `placement` restricts anything (a job without selector or backend may use any agent holding its data). */
export function isRestricted(placement: Placement): boolean {
  return placement.backend !== null || Object.keys(placement.agentSelector).length > 0;
}

/** A placement as people read it: `{gpu: "true", region: "eu"}`, `backend tensorflow-gpu`, or both joined by `and`. */
export function describePlacement(placement: Placement): string {
  const keys = Object.keys(placement.agentSelector).sort();
  const parts: string[] = [];
  if (keys.length) parts.push(`{${keys.map((k) => `${k}: ${JSON.stringify(placement.agentSelector[k])}`).join(', ')}}`);
  if (placement.backend !== null) parts.push(`backend ${placement.backend}`);
  return parts.join(' and ') || 'any agent';
}

/**
 * Labels from `key=value` arguments (the agent's `--label`, repeatable), or a list of problems, each naming the
 * argument or label: no `=`, an invalid key or value, a key given twice, too many labels.
 */
export function parseLabels(args: readonly string[]): { labels: AgentLabels; problems: string[] } {
  const labels: AgentLabels = {};
  const problems: string[] = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq < 0) {
      problems.push(`label '${arg}': expected key=value`);
      continue;
    }
    const key = arg.slice(0, eq);
    const value = arg.slice(eq + 1);
    if (Object.hasOwn(labels, key)) {
      problems.push(`label '${key}': given twice`);
      continue;
    }
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) problems.push(`label '${key}': ${problem}`);
    else labels[key] = value;
  }
  const count = Object.keys(labels).length;
  if (count > MAX_AGENT_LABELS) problems.push(`${count} labels; at most ${MAX_AGENT_LABELS}`);
  return { labels, problems };
}

/** The `key=value` items of a comma-separated list (`gpu=true, region=eu`), as an environment variable carries them. */
export function splitLabelList(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
