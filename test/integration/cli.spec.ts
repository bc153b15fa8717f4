import { parseLabelLastCsv, toCsv, type Dataset } from '@flotilla/algorithms';
import type { AgentView, DatasetSummary, JobView } from '@flotilla/contracts';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatasetCatalog } from '../../apps/coordinator/src/datasets/dataset-catalog';
import { ROOT } from '../../scripts/lib/stack';
import { issueApiKey } from '../support/auth';
import { call, floats, waitFor } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const CLI = path.join(ROOT, 'apps', 'cli', 'dist', 'main.js');
const EXAMPLE = path.join(ROOT, 'examples', 'federated-digits.json');
const P = 650; // softmax on digits: 64×10 weights + 10 biases

// Each run starts a Node process (about half a second on a busy machine); a test makes up to a dozen.
jest.setTimeout(60_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The `flotilla` CLI as a person runs it: the built program in a child process, against a real coordinator (in this
 * process, real PostgreSQL and Redis). Exit codes, output on the right stream, field errors, the config file's
 * permissions, a watched job's lines, and `data split`'s shards against the coordinator's own held-out rows.
 */
describe('flotilla CLI (child process against an in-process coordinator)', () => {
  let coordinator: InProcessCoordinator;
  let base: string;
  let home: string;
  let submitter: string;
  let viewer: string;
  /** Everything every run printed: no key may show up in it. */
  const printed: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    coordinator = await startInProcessCoordinator('cli');
    base = coordinator.base;
    home = mkdtempSync(path.join(os.tmpdir(), 'flotilla-cli-'));
    submitter = (await issueApiKey(base, 'submitter')).key;
    viewer = (await issueApiKey(base, 'viewer')).key;
  });

  afterAll(async () => {
    await coordinator?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  afterAll(() => {
    for (const secret of [submitter, viewer, TEST_ADMIN_TOKEN]) {
      if (secret) expect(printed.filter((p) => p.includes(secret))).toEqual([]);
    }
  });

  /** Runs the CLI; `env` is all of its environment besides PATH and HOME (so no FLOTILLA_* leaks in from outside). */
  function flotilla(args: string[], env: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: home, TZ: 'UTC', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        printed.push(stdout, stderr);
        resolve({ code, stdout, stderr });
      });
    });
  }
  const as = (key: string): Record<string, string> => ({ FLOTILLA_URL: base, FLOTILLA_API_KEY: key });
  const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;

  /** A port nothing listens on (it was free a moment ago). */
  function closedPort(): Promise<number> {
    return new Promise((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
  }

  async function register(name: string): Promise<{ id: string; token: string }> {
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name, datasets: ['uci-digits'] },
    });
    expect(r.status).toBe(201);
    return { id: r.body.agentId, token: `${r.body.agentId}.${r.body.agentSecret}` };
  }

  describe('configuration and exit codes', () => {
    it("reads the key from a config file only when it is the owner's alone, and says how to fix it", async () => {
      const file = path.join(home, '.config', 'flotilla', 'config.json');
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ url: base, apiKey: viewer }));
      chmodSync(file, 0o644);
      const loose = await flotilla(['agents', 'ls']);
      expect(loose.code).toBe(2);
      expect(loose.stderr).toContain(`chmod 600 ${file}`);
      chmodSync(file, 0o600);
      const ok = await flotilla(['agents', 'ls', '--json']);
      expect([ok.code, ok.stderr]).toEqual([0, '']);
      expect(json<unknown[]>(ok)).toEqual([]);
      // FLOTILLA_CONFIG names another file; a flag beats it.
      const other = path.join(home, 'other.json');
      writeFileSync(other, JSON.stringify({ url: `http://127.0.0.1:${await closedPort()}`, apiKey: viewer }), { mode: 0o600 });
      expect((await flotilla(['agents', 'ls'], { FLOTILLA_CONFIG: other })).code).toBe(4);
      expect((await flotilla(['agents', 'ls', '--url', base], { FLOTILLA_CONFIG: other })).code).toBe(0);
      rmSync(file);
    });

    it('exits 2 on usage errors, 3 on a refused key or role, 4 when the coordinator is unreachable', async () => {
      expect((await flotilla(['jobs', 'frobnicate'], as(viewer))).code).toBe(2);
      expect((await flotilla(['jobs', 'ls', '--colour', 'red'], as(viewer))).code).toBe(2);
      expect((await flotilla(['jobs', 'show'], as(viewer))).code).toBe(2);
      expect((await flotilla(['agents', 'ls', '--watch'], as(viewer))).stderr).toMatch(/agents ls takes no --watch/);
      const noKey = await flotilla(['agents', 'ls'], { FLOTILLA_URL: base });
      expect([noKey.code, noKey.stderr]).toEqual([2, expect.stringMatching(/no API key/)]);

      const wrong = await flotilla(['agents', 'ls'], as('fak_00000000-0000-4000-8000-000000000000_nottherightsecretnottherightsecret12'));
      expect(wrong.code).toBe(3);
      expect(wrong.stderr).toMatch(/refused the API key \(from FLOTILLA_API_KEY\)/);
      const role = await flotilla(['jobs', 'submit', EXAMPLE], as(viewer));
      expect(role.code).toBe(3);
      expect(role.stderr).toMatch(/Needs role submitter or admin; this key is a viewer/);

      const closed = await closedPort();
      const down = await flotilla(['jobs', 'ls', '--json'], { FLOTILLA_URL: `http://127.0.0.1:${closed}`, FLOTILLA_API_KEY: viewer });
      expect(down.code).toBe(4);
      expect(down.stderr).toBe(`flotilla: cannot reach the coordinator at http://127.0.0.1:${closed}: ECONNREFUSED\n`);
      expect(json<{ error: { exitCode: number } }>(down).error.exitCode).toBe(4);
    });

    it("prints the API's field errors for an invalid job and exits 1; nothing is submitted", async () => {
      const file = path.join(home, 'bad.json');
      writeFileSync(
        file,
        JSON.stringify({ kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 0, colour: 'red' }),
      );
      const bad = await flotilla(['jobs', 'submit', file], as(submitter));
      expect(bad.code).toBe(1);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toMatch(/^ {2}rounds: /m);
      expect(bad.stderr).toMatch(/^ {2}\(root\): unknown field\(s\): colour$/m);
      const asJson = await flotilla(['jobs', 'submit', file, '--json'], as(submitter));
      expect(json<{ error: { status: number; fields: { field: string }[] } }>(asJson).error).toMatchObject({
        status: 400,
        fields: expect.arrayContaining([expect.objectContaining({ field: 'rounds' })]),
      });
      writeFileSync(file, '{"kind": ');
      expect(await flotilla(['jobs', 'submit', file], as(submitter))).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/is not valid JSON/),
      });
      expect(json<unknown[]>(await flotilla(['jobs', 'ls', '--json'], as(viewer)))).toEqual([]);
    });
  });

  it('submits the example, shows where its accuracy comes from, lists, cancels it; a watch of a cancelled job exits 5', async () => {
    const submitted = await flotilla(['jobs', 'submit', EXAMPLE], as(submitter));
    expect(submitted.code).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(submitted.stderr).toMatch(/submitted federated job on uci-digits, 40 rounds/);

    const heldOut = coordinator.app.get(DatasetCatalog).get('uci-digits').test.size;
    const shown = await flotilla(['jobs', 'show', id.slice(0, 8)], as(viewer));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^evaluation: +evaluated on ${heldOut} held-out rows of uci-digits \\(20 % of its file`, 'm'));
    expect(json<Extract<JobView, { kind: 'federated' }>>(await flotilla(['jobs', 'show', id, '--json'], as(viewer))).evaluation).toEqual({
      dataset: 'uci-digits',
      heldOutRows: heldOut,
      fraction: 0.2,
    });

    const listed = await flotilla(['jobs', 'ls', '--status', 'running'], as(viewer));
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID +KIND +STATUS +PROGRESS +DATASET +ACCURACY +CREATED +NAME$/);
    expect(listed.stdout).toMatch(new RegExp(`^${id.slice(0, 8)} +federated +running +0/40 rounds +uci-digits `, 'm'));

    expect((await flotilla(['jobs', 'cancel', id], as(viewer))).code).toBe(3);
    const cancelled = await flotilla(['jobs', 'cancel', id], as(submitter));
    expect([cancelled.code, cancelled.stdout.trim()]).toEqual([0, `job ${id} cancelled after 0/40 rounds`]);
    const again = await flotilla(['jobs', 'cancel', id], as(submitter));
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/already cancelled/)]);
    const watched = await flotilla(['jobs', 'watch', id], as(viewer));
    expect(watched.code).toBe(5);
    expect(watched.stdout.trim().split('\n').at(-1)).toBe(`job ${id} cancelled after 0/40 rounds`);
    expect((await flotilla(['jobs', 'show', 'ffffffff'], as(viewer))).code).toBe(1);
  });

  it('watches a federated job round by round until it completes (exit 0), as lines and as JSON events', async () => {
    const agent = await register('watched-agent');
    const file = path.join(home, 'two-rounds.json');
    writeFileSync(
      file,
      JSON.stringify({ kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 2, roundDeadlineMs: 60_000 }),
    );
    const submitted = await flotilla(['jobs', 'submit', file], as(submitter));
    const id = submitted.stdout.trim();
    const watching = flotilla(['jobs', 'watch', id, '--interval', '100'], as(viewer));
    // The test is the job's one agent: it sends a small update in each round.
    for (const round of [0, 1]) {
      await waitFor(`round ${round} open`, async () => {
        const r = await call<{ round: number; status: string }[]>(base, 'GET', `/api/v1/jobs/${id}/rounds`, { token: TEST_ADMIN_TOKEN });
        return r.body.find((x) => x.round === round && x.status === 'open');
      });
      const up = await call(base, 'POST', `/api/v1/jobs/${id}/rounds/${round}/update?exampleCount=16&trainLoss=0.5&durationMs=3`, {
        token: agent.token,
        raw: floats(new Float32Array(P).fill(0.001)),
      });
      expect(up.status).toBe(200);
    }
    const watched = await watching;
    expect([watched.code, watched.stderr]).toEqual([0, '']);
    const lines = watched.stdout.trim().split('\n');
    expect(lines[0]).toBe(`watching job ${id}: federated job on uci-digits, 2 rounds (Ctrl-C stops watching, not the job)`);
    expect(lines[1]).toMatch(/^initial model {2}accuracy 0\.\d{4} {2}loss \d+\.\d{4} {2}\(evaluated on \d+ held-out rows of uci-digits/);
    const rounds = lines.filter((l) => l.startsWith('round '));
    expect(rounds).toEqual([
      expect.stringMatching(/^round 0 \(1\/2\) {2}participants 1\/1 {2}accuracy \d\.\d{4} {2}loss \d+\.\d{4} {2}train loss 0\.5000$/),
      expect.stringMatching(/^round 1 \(2\/2\) {2}participants 1\/1 {2}accuracy \d\.\d{4} {2}loss \d+\.\d{4} {2}train loss 0\.5000$/),
    ]);
    expect(lines.at(-1)).toMatch(new RegExp(`^job ${id} completed after 2/2 rounds: accuracy \\d\\.\\d{4}$`));

    // The same history as JSON events, one per line, for a job that has already ended.
    const events = (await flotilla(['jobs', 'watch', id, '--json'], as(viewer))).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; round?: { round: number; participants: number } });
    expect(events.map((e) => e.event)).toEqual(['initial', 'round', 'round', 'end']);
    expect(events[2].round).toMatchObject({ round: 1, participants: 1 });
  });

  it('lists agents and revokes one (admin only)', async () => {
    const agent = await register('to-be-revoked');
    const listed = await flotilla(['agents', 'ls'], as(viewer));
    expect(listed.stdout).toMatch(new RegExp(`^${agent.id.slice(0, 8)} +to-be-revoked +online +uci-digits `, 'm'));
    expect((await flotilla(['agents', 'rm', agent.id.slice(0, 8)], as(submitter))).code).toBe(3);
    const removed = await flotilla(['agents', 'rm', agent.id.slice(0, 8)], { FLOTILLA_URL: base, FLOTILLA_API_KEY: TEST_ADMIN_TOKEN });
    expect([removed.code, removed.stdout.trim()]).toEqual([0, `agent ${agent.id} (to-be-revoked) revoked: its credentials no longer work`]);
    const after = json<AgentView[]>(await flotilla(['agents', 'ls', '--json'], as(viewer)));
    expect(after.find((a) => a.id === agent.id)?.revokedAt).not.toBeNull();
    expect((await call(base, 'POST', '/api/v1/agents/heartbeat', { token: agent.token, json: {} })).status).toBe(401);
  });

  it("data split: the shards and the coordinator's held-out rows are disjoint and together are the file", async () => {
    const datasets = json<DatasetSummary[]>(await flotilla(['datasets', 'ls', '--json'], as(viewer)));
    const digits = datasets.find((d) => d.name === 'uci-digits')!;
    expect(digits).toMatchObject({ numFeatures: 64, numClasses: 10, heldOut: { fraction: 0.2 } });
    expect((await flotilla(['datasets', 'ls'], as(viewer))).stdout).toMatch(/^uci-digits +64 +8×8×1 +10 +\[0, 16\] +\d+ rows \(20 %\)/m);

    const out = path.join(home, 'shards');
    const split = await flotilla([
      'data',
      'split',
      'data/uci-digits',
      '--agents',
      '5',
      '--alpha',
      '0.3',
      '--seed',
      '2',
      '-o',
      out,
      '--json',
    ]);
    expect([split.code, split.stderr]).toEqual([0, '']);
    const report = json<{ heldOut: { rows: number }; shards: { file: string; rows: number; sha256: string }[] }>(split);
    expect(report.heldOut.rows).toBe(digits.heldOut.rows);
    expect(report.shards).toHaveLength(5);

    // Rows as text, counted: the file's, the shards', and the held-out split the running coordinator evaluates on
    // (scaled by 1/16 there; ×16 is exact in float32).
    const count = (ds: Dataset, into = new Map<string, number>()): Map<string, number> => {
      for (const line of toCsv(ds).trimEnd().split('\n')) into.set(line, (into.get(line) ?? 0) + 1);
      return into;
    };
    const catalogTest = coordinator.app.get(DatasetCatalog).get('uci-digits').test;
    const heldOut = count({ ...catalogTest, features: catalogTest.features.map((x) => x * 16) });
    const sharded = new Map<string, number>();
    for (const s of report.shards) {
      const ds = parseLabelLastCsv(readFileSync(s.file, 'utf8'), { numClasses: 10 });
      expect(ds.size).toBe(s.rows);
      count(ds, sharded);
    }
    const file = count(parseLabelLastCsv(readFileSync(path.join(ROOT, 'data/uci-digits/digits.csv'), 'utf8'), { numClasses: 10 }));
    // Every row of the file is used exactly as often as it occurs: in a shard or held out, never both (a row the
    // file holds twice may be once on each side; that is the file's duplicate, not a leak).
    for (const [row, n] of file) expect([row, (sharded.get(row) ?? 0) + (heldOut.get(row) ?? 0)]).toEqual([row, n]);
    for (const row of [...sharded.keys(), ...heldOut.keys()]) expect(file.has(row)).toBe(true);
    const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
    expect(total(sharded) + total(heldOut)).toBe(total(file));
    expect(total(heldOut)).toBe(digits.heldOut.rows);

    // An IID split: sizes within one row of each other; a second split into the same folder needs --force.
    const iid = json<{ shards: { rows: number }[] }>(
      await flotilla(['data', 'split', 'data/uci-digits', '--agents', '3', '-o', out, '--force', '--json']),
    );
    const sizes = iid.shards.map((s) => s.rows);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(total(file) - digits.heldOut.rows);
    expect((await flotilla(['data', 'split', 'data/uci-digits', '--agents', '3', '-o', out])).code).toBe(2);
    expect((await flotilla(['data', 'split', 'data', '--agents', '3', '-o', out, '--force'])).stderr).toMatch(
      /data split takes a dataset's folder/,
    );
  });
});
