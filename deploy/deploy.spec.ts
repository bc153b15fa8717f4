import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigSchema, loadConfig } from '../apps/coordinator/src/config/config';
import { agentInterface, composeWorkloads, kustomizeWorkloads, parseEnvFile, type Workload } from './manifests';

/**
 * The deployment material sets only variables the programs read, and every one they need: a variable misspelt in a
 * manifest would be ignored silently (zod drops unknown keys) and the coordinator would run on its default.
 */

const ROOT = path.join(__dirname, '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

const COORDINATOR_SETTINGS = new Set(Object.keys(ConfigSchema.shape));
/** Settings without a default that are not optional: the coordinator does not start without them. */
const REQUIRED_SETTINGS = Object.entries(ConfigSchema.shape)
  .filter(([, schema]) => !schema.safeParse(undefined).success)
  .map(([name]) => name);
/** Settings whose value is a credential: never written into a manifest. */
const SECRET_SETTINGS = ['DATABASE_URL', 'REDIS_URL', 'ADMIN_TOKEN', 'JOIN_TOKEN', 'S3_SECRET_ACCESS_KEY'];
/** Stand-ins for values that only the cluster's Secrets hold, shaped as the schema wants them. */
const SAMPLE_SECRETS: Record<string, string> = {
  DATABASE_URL: 'postgresql://flotilla:secret@postgres:5432/flotilla',
  REDIS_URL: 'redis://:secret@redis:6379',
};

function agentSources(): Map<string, string> {
  const dir = path.join(ROOT, 'apps/client-agent/src');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
  return new Map(files.map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
}
const AGENT = agentInterface(agentSources());

/** The flags an argument list passes (`--data FILE`, `--data=FILE`). */
function flagsOf(args: string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]);
}

/** Everything wrong with one workload's environment and arguments, as sentences naming the place and the variable. */
function problemsOf(w: Workload, options: { validate: boolean } = { validate: true }): string[] {
  const problems: string[] = [];
  const names = [...w.env.keys()];
  if (w.role === 'agent') {
    for (const name of names) {
      if (!AGENT.env.has(name) && !w.argsOnly.has(name))
        problems.push(`${w.where}: ${name} is not read by the agent (apps/client-agent/src reads ${[...AGENT.env].join(', ')})`);
    }
    const flags = flagsOf(w.args);
    for (const flag of flags)
      if (!AGENT.flags.has(flag)) problems.push(`${w.where}: --${flag} is not a flag of apps/client-agent/src/cli.ts`);
    if (!w.env.has('FLOTILLA_COORDINATOR_URL') && !flags.includes('coordinator')) problems.push(`${w.where}: no coordinator URL`);
    if (flags.includes('join-token')) problems.push(`${w.where}: --join-token puts the token in the process list; use FLOTILLA_JOIN_TOKEN`);
    const token = w.env.get('FLOTILLA_JOIN_TOKEN');
    if (!token && !flags.includes('join-token-file')) problems.push(`${w.where}: no join token (FLOTILLA_JOIN_TOKEN or --join-token-file)`);
    if (token && !token.secret) problems.push(`${w.where}: FLOTILLA_JOIN_TOKEN is written into the manifest; take it from a secret`);
    if (!flags.includes('data')) problems.push(`${w.where}: no --data`);
    return problems;
  }
  for (const name of names) {
    if (!COORDINATOR_SETTINGS.has(name) && !w.argsOnly.has(name))
      problems.push(`${w.where}: ${name} is not a setting of apps/coordinator/src/config/config.ts`);
  }
  const required = w.role === 'migrate' ? ['DATABASE_URL'] : REQUIRED_SETTINGS;
  for (const name of required) {
    const v = w.env.get(name);
    if (!v) problems.push(`${w.where}: ${name} is required and not set`);
    else if (v.optional) problems.push(`${w.where}: ${name} is required and its secretKeyRef is optional`);
  }
  for (const name of SECRET_SETTINGS) {
    const v = w.env.get(name);
    if (v && !v.secret) problems.push(`${w.where}: ${name} is written into the manifest; take it from a secret`);
  }
  if (options.validate && w.role === 'coordinator' && problems.length === 0) {
    // With the optional Secret keys present and absent: either way the coordinator must accept the result.
    for (const withOptional of [true, false]) {
      const env: Record<string, string> = {};
      for (const [name, v] of w.env) {
        if (v.optional && !withOptional) continue;
        env[name] = v.value ?? SAMPLE_SECRETS[name] ?? 'x'.repeat(32);
      }
      try {
        loadConfig(env);
      } catch (e) {
        problems.push(`${w.where}${withOptional ? '' : ' (optional Secret keys unset)'}: ${(e as Error).message}`);
      }
    }
  }
  return problems;
}

const envExample = parseEnvFile(read('deploy/.env.example'));
const compose = (text = read('deploy/compose.yaml')) => composeWorkloads(text, envExample);
const kustomize = (override: Record<string, string> = {}) => kustomizeWorkloads((f) => override[f] ?? read(path.join('deploy/k8s', f)));

/** The systemd agent unit with its env file: `${NAME}` in ExecStart are expanded from the file. */
function systemdAgent(): Workload {
  const unit = read('deploy/systemd/flotilla-agent@.service');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)![1];
  const args = execStart.split(/\s+/).slice(2);
  const env = new Map(
    [...parseEnvFile(read('deploy/agent.env.example'), true)].map(([k, v]) => [k, { value: v, secret: true, optional: false }]),
  );
  const argsOnly = new Set([...execStart.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]));
  return { where: 'agent.env.example + systemd/flotilla-agent@.service', role: 'agent', args, env, argsOnly };
}

function systemdCoordinator(): Workload {
  const env = new Map(
    [...parseEnvFile(read('deploy/coordinator.env.example'), true)].map(([k, v]) => [k, { value: v, secret: true, optional: false }]),
  );
  return { where: 'coordinator.env.example', role: 'coordinator', args: [], env, argsOnly: new Set() };
}

describe('what the agent reads (found in its source)', () => {
  it('is found: the scan of apps/client-agent/src sees the variables and flags the manifests rely on', () => {
    expect([...AGENT.env]).toEqual(expect.arrayContaining(['FLOTILLA_COORDINATOR_URL', 'FLOTILLA_JOIN_TOKEN', 'FLOTILLA_CA_FILE']));
    expect([...AGENT.flags]).toEqual(expect.arrayContaining(['coordinator', 'join-token', 'join-token-file', 'data', 'dataset', 'name']));
  });
});

describe('deploy/compose.yaml', () => {
  const { workloads, problems } = compose();

  it('starts one migration, two coordinators and three agents', () => {
    expect(problems).toEqual([]);
    const count = (role: string) => workloads.filter((w) => w.role === role).length;
    expect([count('migrate'), count('coordinator'), count('agent')]).toEqual([1, 2, 3]);
  });

  it('sets only variables the programs read, every one they need, secrets from deploy/.env', () => {
    expect(workloads.flatMap((w) => problemsOf(w))).toEqual([]);
  });

  it('finds a variable the coordinator does not know, a plain-text secret and an agent flag that does not exist', () => {
    const text = read('deploy/compose.yaml')
      .replace("TRUST_PROXY: '1'", "TRUST_PROXY: '1'\n    TRUST_PROXIES: '1'")
      .replace('ADMIN_TOKEN: ${ADMIN_TOKEN:?set it in deploy/.env}', 'ADMIN_TOKEN: 0123456789abcdef0123')
      .replace("'--name', 'compose-0'", "'--nam', 'compose-0'");
    const found = compose(text).workloads.flatMap((w) => problemsOf(w));
    expect(found).toContain('compose.yaml service coordinator-1: TRUST_PROXIES is not a setting of apps/coordinator/src/config/config.ts');
    expect(found).toContain('compose.yaml service coordinator-2: ADMIN_TOKEN is written into the manifest; take it from a secret');
    expect(found).toContain('compose.yaml service agent-0: --nam is not a flag of apps/client-agent/src/cli.ts');
  });

  it('has placeholders, never values, in .env.example, and lists every variable the file interpolates', () => {
    for (const name of [
      'POSTGRES_PASSWORD',
      'REDIS_PASSWORD',
      'MINIO_ROOT_PASSWORD',
      'S3_SECRET_ACCESS_KEY',
      'ADMIN_TOKEN',
      'JOIN_TOKEN',
    ]) {
      expect([name, envExample.get(name)]).toEqual([name, 'replace-with-openssl-rand-hex-24']);
    }
    const unlisted = [...read('deploy/compose.yaml').matchAll(/\$\{([A-Z_]+)(:[-?][^}]*)?\}/g)]
      .filter((m) => !m[2]?.startsWith(':-') && !envExample.has(m[1]))
      .map((m) => m[1]);
    expect(unlisted).toEqual([]);
  });
});

describe('deploy/k8s (the Kustomize base)', () => {
  const { workloads, problems } = kustomize();

  it('runs the migration before two coordinators, and agents', () => {
    expect(problems).toEqual([]);
    expect(workloads.map((w) => w.role).sort()).toEqual(['agent', 'coordinator', 'migrate']);
    const deployment = read('deploy/k8s/coordinator.yaml');
    expect(deployment).toMatch(/^ {2}replicas: 2$/m);
  });

  it('sets only variables the programs read, every one they need, secrets from Secrets', () => {
    expect(workloads.flatMap((w) => problemsOf(w))).toEqual([]);
  });

  it('finds a variable the coordinator does not know in the ConfigMap and a secret written into a Deployment', () => {
    const config = read('deploy/k8s/coordinator-config.env') + 'BLOB_GC_INTERVAL=0\n';
    const agent = read('deploy/k8s/agent.yaml').replace(
      /- name: FLOTILLA_JOIN_TOKEN\n(\s+)valueFrom:\n\s+secretKeyRef:\n\s+name: flotilla-agent\n\s+key: FLOTILLA_JOIN_TOKEN/,
      '- name: FLOTILLA_JOIN_TOKEN\n$1value: fjt_example',
    );
    expect(agent).not.toEqual(read('deploy/k8s/agent.yaml'));
    const found = kustomize({ 'coordinator-config.env': config, 'agent.yaml': agent }).workloads.flatMap((w) => problemsOf(w));
    expect(found).toContain(
      'k8s/coordinator.yaml Deployment flotilla-coordinator container coordinator: BLOB_GC_INTERVAL is not a setting of apps/coordinator/src/config/config.ts',
    );
    expect(found).toContain(
      'k8s/agent.yaml Deployment flotilla-agent container agent: FLOTILLA_JOIN_TOKEN is written into the manifest; take it from a secret',
    );
  });

  it('refuses what it cannot check: envFrom a whole Secret', () => {
    const coordinator = read('deploy/k8s/coordinator.yaml').replace(
      '- configMapRef:\n                name: flotilla-coordinator',
      '- configMapRef:\n                name: flotilla-coordinator\n            - secretRef:\n                name: flotilla-coordinator',
    );
    expect(kustomize({ 'coordinator.yaml': coordinator }).problems).toEqual([
      'k8s/coordinator.yaml Deployment flotilla-coordinator container coordinator: envFrom secretRef hides which variables it sets; use secretKeyRef per variable',
    ]);
  });
});

describe('systemd units and their env examples', () => {
  it('coordinator.env.example names only settings of the coordinator, the required ones included', () => {
    expect(problemsOf(systemdCoordinator(), { validate: false })).toEqual([]);
  });

  it('agent.env.example and flotilla-agent@.service set only what the agent reads (or the unit expands)', () => {
    expect(problemsOf(systemdAgent())).toEqual([]);
  });
});

describe('deploy/Dockerfile', () => {
  it("copies every workspace's package.json before npm ci, and every app's and lib's dist into the runtime image", () => {
    const [build, runtime] = read('deploy/Dockerfile')
      .split(/^FROM /m)
      .slice(-2);
    const globs = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
    const workspaces = globs
      .flatMap((g) => (g.endsWith('/*') ? readdirSync(path.join(ROOT, g.slice(0, -2))).map((d) => `${g.slice(0, -2)}/${d}`) : [g]))
      .filter((d) => existsSync(path.join(ROOT, d, 'package.json')));
    expect(workspaces).toEqual(expect.arrayContaining(['apps/coordinator', 'apps/client-agent', 'libs/contracts']));
    const missing = [
      ...workspaces.filter((d) => !build.includes(`COPY ${d}/package.json ${d}/`)).map((d) => `build: ${d}/package.json`),
      ...workspaces
        .filter((d) => /^(apps|libs)\//.test(d) && !runtime.includes(`COPY --from=build /src/${d}/dist ${d}/dist`))
        .map((d) => `runtime: ${d}/dist`),
    ];
    expect(missing).toEqual([]);
  });

  it("sets in the runtime image only the coordinator's settings or the agent's variables", () => {
    const runtime = read('deploy/Dockerfile')
      .split(/^FROM /m)
      .at(-1)!;
    const names = [...runtime.matchAll(/^ENV (.*)$/gm)].flatMap((m) => [...m[1].matchAll(/([A-Z][A-Z0-9_]*)=/g)].map((n) => n[1]));
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !COORDINATOR_SETTINGS.has(n) && !AGENT.env.has(n))).toEqual([]);
  });
});
