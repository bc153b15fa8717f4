import { parse, parseAllDocuments } from 'yaml';

/**
 * Reads the deployment material (compose.yaml, the Kustomize base, the systemd env examples, the Dockerfile) into
 * one shape, the Flotilla processes it starts with the environment and arguments each gets, so that deploy.spec.ts
 * can hold them against what the programs read. Pure: every function takes file contents, never a path.
 */

/** What the image runs: the entrypoint's first argument (deploy/docker/entrypoint.sh). */
export type Role = 'coordinator' | 'migrate' | 'agent';
const ROLES: readonly string[] = ['coordinator', 'migrate', 'agent'];

/** One environment variable as a manifest sets it. */
export interface EnvValue {
  /** The value after interpolation; undefined when it comes from a Secret (known only in the cluster). */
  value: string | undefined;
  /** From a secret store: compose interpolation of deploy/.env, a Secret, or an env file the operator fills. */
  secret: boolean;
  /** Kubernetes `optional: true`: the variable may be missing at run time. */
  optional: boolean;
}

/** One Flotilla process a manifest starts. */
export interface Workload {
  /** Where it is declared, for messages: `compose.yaml service agent-1`. */
  where: string;
  role: Role;
  /** Its arguments after the role. */
  args: string[];
  env: Map<string, EnvValue>;
  /** Variables set only to be expanded into the arguments (Kubernetes `$(NAME)`, systemd `${NAME}`). */
  argsOnly: Set<string>;
}

/** `KEY=VALUE` lines; with `commented`, also `#KEY=VALUE` lines (settings documented but left at their default). */
export function parseEnvFile(text: string, commented = false): Map<string, string> {
  const out = new Map<string, string>();
  const line = commented ? /^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/ : /^([A-Z][A-Z0-9_]*)=(.*)$/;
  for (const raw of text.split('\n')) {
    const m = line.exec(raw.trim());
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/**
 * Compose's interpolation: `${VAR}`, `${VAR:?message}`, `${VAR:-default}`, `$$` for a literal `$`. Variables come
 * from `vars` (deploy/.env.example in the tests); one that is missing without a default is a problem.
 */
export function interpolate(text: string, vars: Map<string, string>, problems: string[], where: string): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (whole, name?: string, op?: string, arg?: string) => {
    if (whole === '$$') return '$';
    const value = vars.get(name!);
    if (value !== undefined && value !== '') return value;
    if (op?.endsWith('-')) return arg ?? '';
    problems.push(`${where}: \${${name}} is not in deploy/.env.example`);
    return '';
  });
}

function asRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A YAML scalar as the environment sees it (numbers and booleans as written); anything else is empty. */
function scalar(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function asStrings(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  return typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : [];
}

/**
 * The Flotilla services of compose.yaml: those whose image is the one `x-flotilla` builds. A service that runs the
 * image with another command (the shards one-shot) must set no environment; `env_file` is refused, since it would
 * hand a service every secret of the file and hide what it sets.
 */
export function composeWorkloads(composeText: string, envExample: Map<string, string>): { workloads: Workload[]; problems: string[] } {
  const problems: string[] = [];
  const doc = asRecord(parse(composeText, { merge: true }));
  const image = asRecord(doc['x-flotilla']).image;
  if (typeof image !== 'string') return { workloads: [], problems: ['compose.yaml: x-flotilla.image is missing'] };
  const workloads: Workload[] = [];
  for (const [name, raw] of Object.entries(asRecord(doc.services))) {
    const service = asRecord(raw);
    if (service.image !== image) continue;
    const where = `compose.yaml service ${name}`;
    if (service.env_file !== undefined) problems.push(`${where}: env_file hides what the service gets; list its variables`);
    const env = new Map<string, EnvValue>();
    const entries: [string, unknown][] = Array.isArray(service.environment)
      ? service.environment.map((e) => {
          const [k, ...v] = String(e).split('=');
          return [k, v.join('=')];
        })
      : Object.entries(asRecord(service.environment));
    for (const [key, raw] of entries) {
      const text = scalar(raw);
      env.set(key, { value: interpolate(text, envExample, problems, `${where} ${key}`), secret: text.includes('${'), optional: false });
    }
    const [first, ...args] = asStrings(service.command);
    if (first === undefined || !ROLES.includes(first)) {
      if (env.size) problems.push(`${where}: runs ${first ?? 'the default command'} with environment ${[...env.keys()].join(', ')}`);
      continue;
    }
    workloads.push({
      where,
      role: first as Role,
      args: args.map((a) => interpolate(a, envExample, problems, where)),
      env,
      argsOnly: new Set(),
    });
  }
  return { workloads, problems };
}

/** What deploy.spec.ts understands of a kustomization; anything else (patches, components, ...) must be taught to it. */
const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'labels', 'resources', 'configMapGenerator', 'images']);

/**
 * The Flotilla containers (init containers included) of the Kustomize base: those whose image is `flotilla`, the name
 * the kustomization's `images` rewrites. `read` returns a file of the base by its relative path.
 */
export function kustomizeWorkloads(read: (file: string) => string): { workloads: Workload[]; problems: string[] } {
  const problems: string[] = [];
  const kustomization = asRecord(parse(read('kustomization.yaml')));
  for (const key of Object.keys(kustomization)) {
    if (!KUSTOMIZATION_KEYS.has(key)) problems.push(`kustomization.yaml: deploy/manifests.ts does not read '${key}'; teach it`);
  }
  const configMaps = new Map<string, Map<string, string>>();
  for (const gen of (kustomization.configMapGenerator as unknown[] | undefined) ?? []) {
    const g = asRecord(gen);
    const data = new Map<string, string>();
    for (const file of asStrings(g.envs)) for (const [k, v] of parseEnvFile(read(file))) data.set(k, v);
    for (const literal of asStrings(g.literals)) {
      const [k, ...v] = literal.split('=');
      data.set(k, v.join('='));
    }
    configMaps.set(String(g.name), data);
  }
  const docs = asStrings(kustomization.resources).flatMap((file) =>
    parseAllDocuments(read(file)).map((d) => ({ file, doc: asRecord(d.toJS()) })),
  );
  for (const { doc } of docs) {
    if (doc.kind === 'ConfigMap')
      configMaps.set(String(asRecord(doc.metadata).name), new Map(Object.entries(asRecord(doc.data)).map(([k, v]) => [k, String(v)])));
  }
  const workloads: Workload[] = [];
  for (const { file, doc } of docs) {
    const spec = asRecord(doc.spec);
    const podSpec = asRecord(asRecord(doc.kind === 'CronJob' ? asRecord(asRecord(spec.jobTemplate).spec).template : spec.template).spec);
    const containers = [...((podSpec.initContainers as unknown[]) ?? []), ...((podSpec.containers as unknown[]) ?? [])].map(asRecord);
    for (const c of containers) {
      if (c.image !== 'flotilla') continue;
      const where = `k8s/${file} ${String(doc.kind)} ${String(asRecord(doc.metadata).name)} container ${String(c.name)}`;
      const env = new Map<string, EnvValue>();
      for (const from of ((c.envFrom as unknown[]) ?? []).map(asRecord)) {
        if (from.secretRef !== undefined)
          problems.push(`${where}: envFrom secretRef hides which variables it sets; use secretKeyRef per variable`);
        const ref = asRecord(from.configMapRef);
        if (from.configMapRef === undefined) continue;
        const data = configMaps.get(String(ref.name));
        if (!data) problems.push(`${where}: ConfigMap ${String(ref.name)} is not in the base`);
        for (const [k, v] of data ?? []) env.set(k, { value: v, secret: false, optional: false });
      }
      for (const e of ((c.env as unknown[]) ?? []).map(asRecord)) {
        const from = asRecord(e.valueFrom);
        const secretRef = asRecord(from.secretKeyRef);
        const configRef = asRecord(from.configMapKeyRef);
        const value =
          e.value !== undefined
            ? scalar(e.value)
            : from.configMapKeyRef !== undefined
              ? configMaps.get(String(configRef.name))?.get(String(configRef.key))
              : from.fieldRef !== undefined
                ? 'field'
                : undefined;
        env.set(String(e.name), { value, secret: from.secretKeyRef !== undefined, optional: secretRef.optional === true });
      }
      const [first, ...args] = [...asStrings(c.command), ...asStrings(c.args)];
      if (first === undefined || !ROLES.includes(first)) {
        problems.push(`${where}: args must start with coordinator, migrate or agent (deploy/docker/entrypoint.sh)`);
        continue;
      }
      const argsOnly = new Set([...args.join(' ').matchAll(/\$\(([A-Z0-9_]+)\)/g)].map((m) => m[1]));
      workloads.push({ where, role: first as Role, args, env, argsOnly });
    }
  }
  return { workloads, problems };
}

/**
 * What the agent reads, found in its source: the environment variables it reads (`process.env.NAME` anywhere in
 * apps/client-agent/src) and the flags of cli.ts's parseArgs options. `sources` maps file names to contents.
 */
export function agentInterface(sources: Map<string, string>): { env: Set<string>; flags: Set<string> } {
  const env = new Set<string>();
  const flags = new Set<string>();
  for (const [file, text] of sources) {
    for (const m of text.matchAll(/process\.env(?:\.([A-Z][A-Z0-9_]*)|\[['"]([A-Z][A-Z0-9_]*)['"]\])/g)) env.add(m[1] ?? m[2]);
    if (file.endsWith('cli.ts')) {
      for (const m of text.matchAll(/^\s+'?([a-z][a-z0-9-]*)'?: \{ type: '(?:string|boolean)'/gm)) flags.add(m[1]);
    }
  }
  return { env, flags };
}
