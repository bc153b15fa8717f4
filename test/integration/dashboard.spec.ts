import type { AgentView, JobView, ParticipationView } from '@flotilla/contracts';
import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { answerRounds, heartbeat, registerAgents } from '../../scripts/dashboard-fleet';
import { issueApiKey } from '../support/auth';
import { call, rawRequest, toFloat32, waitFor } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const ADMIN = TEST_ADMIN_TOKEN;
const JOIN = TEST_JOIN_TOKEN;
const P = 650; // softmax on digits
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A federated job on the digits whose rounds only the agents labelled `suite` may join. */
const federated = (suite: string, extra: Record<string, unknown> = {}) => ({
  kind: 'federated',
  dataset: 'uci-digits',
  model: { arch: 'softmax' },
  roundDeadlineMs: 60_000,
  agentSelector: { suite },
  ...extra,
});

/**
 * The admin dashboard (apps/dashboard, bundled by `npm run build`) in a real browser (Debian's Chromium, headless,
 * driven by playwright-core) against a real coordinator, PostgreSQL and Redis: every page shows what the API says,
 * updates without a reload, and runs nothing its Content-Security-Policy forbids (a violation is a console error).
 */
describe('dashboard (headless Chromium, coordinator in-process)', () => {
  let coordinator: InProcessCoordinator;
  let base: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`);
    coordinator = await startInProcessCoordinator('dash');
    base = coordinator.base;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/401 \(Unauthorized\)/.test(m.text())) pageErrors.push(m.text());
    });
  }, 60_000);

  // Closing Chromium and a coordinator on a loaded two-core machine can take longer than jest's 5 s default for a hook.
  afterAll(async () => {
    await browser?.close();
    await coordinator?.stop();
  }, 30_000);

  afterEach(() => {
    expect(pageErrors.splice(0)).toEqual([]);
  });

  const texts = (selector: string): Promise<string[]> => page.locator(selector).allTextContents();
  const text = async (selector: string): Promise<string> => (await page.textContent(selector))?.trim() ?? '';

  async function signIn(key: string): Promise<void> {
    // Signed out, whatever the test before left (a failed one stays signed in).
    await page.goto(`${base}/dashboard`);
    await page.evaluate('sessionStorage.clear()');
    await page.reload();
    await page.fill('#token', key);
    await page.click('#signin button');
    await page.waitForSelector('#whoami');
  }
  async function signOut(): Promise<void> {
    await page.click('#signout');
    await page.waitForSelector('#signin');
  }
  /**
   * Hovers the heat-map cell of an agent's row (0 = first) and a column counted from the visible left edge of the
   * scrolling box (negative: from its right edge); returns the tooltip's text.
   */
  async function hoverCell(row: number, column: number, expected?: string): Promise<string> {
    await page.locator('.heatmap-scroll').scrollIntoViewIfNeeded();
    const box = (await page.locator('.heatmap-scroll').boundingBox())!;
    const canvas = (await page.locator('#heatmap-canvas').boundingBox())!;
    const cw = Number(await page.getAttribute('#heatmap-canvas', 'data-cell-width'));
    const rh = Number(await page.getAttribute('#heatmap-canvas', 'data-row-height'));
    const right = Math.min(box.x + box.width, canvas.x + canvas.width);
    const x = column >= 0 ? Math.max(box.x, canvas.x) + (column + 0.5) * cw : right + (column + 0.5) * cw;
    await page.mouse.move(x, canvas.y + (row + 0.5) * rh);
    if (expected) await page.waitForSelector(`#heatmap-tip:has-text("${expected}")`);
    return text('#heatmap-tip');
  }
  /** Follows an in-app link; a marker on window proves the page did not reload. */
  async function follow(selector: string): Promise<void> {
    await page.click(selector);
    expect(await page.evaluate('window.__notReloaded')).toBe(true);
  }

  it('serves the bundle: index.html for the app and its routes with a CSP allowing no inline code, immutable hashed assets, 404 otherwise', async () => {
    for (const path of ['/dashboard', '/dashboard/', '/dashboard/jobs/0b7f9f7e-2d4e-4a53-9a57-4e7d3b0f0a11', '/dashboard/agents']) {
      const res = await fetch(base + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("style-src 'self';");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-inline|nonce-/);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const html = await res.text();
      expect(html).not.toMatch(/<script>|<style|style=/); // nothing inline
    }
    const html = await (await fetch(`${base}/dashboard`)).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const a of assets) {
      const res = await fetch(base + a);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toMatch(
        { js: /javascript/, css: /^text\/css/, svg: /^image\/svg\+xml/ }[a.split('.').pop()!]!,
      );
    }
    for (const path of ['/dashboard/assets/nothing-here.js', '/dashboard/assets/..%2F..%2Fpackage.json', '/dashboard/assets/.env'])
      expect((await fetch(base + path)).status).toBe(404);
    // The API is where it was, and the pages' polls cost an unchanged list a 304.
    expect((await fetch(`${base}/api/v1/jobs`)).status).toBe(401);
    const auth = { authorization: `Bearer ${ADMIN}` };
    const etag = (await fetch(`${base}/api/v1/agents`, { headers: auth })).headers.get('etag');
    expect(etag).toBeTruthy();
    // (Not with fetch: a fetch with If-None-Match of its own also sends Cache-Control: no-cache, which forbids a 304.)
    expect((await rawRequest(base, { method: 'GET', path: '/api/v1/agents', headers: { ...auth, 'if-none-match': etag! } })).status).toBe(
      304,
    );
  });

  it('signs in (refusing a wrong key), shows the fleet overview, filters agents, shows their last error, revokes one, previews a blob sweep', async () => {
    const [a, b, c] = await registerAgents(base, JOIN, [
      {
        name: 'edge-a',
        datasets: ['uci-digits'],
        labels: { suite: 'agents', gpu: 'true' },
        backend: 'tensorflow-gpu',
        device: 'gpu: NVIDIA H100 80GB HBM3',
      },
      { name: 'edge-b', datasets: ['uci-digits'], labels: { suite: 'agents' } },
      { name: 'edge-c', datasets: ['mnist'], labels: { suite: 'agents' } },
    ]);
    await heartbeat(base, a, { network: { retries: 3, failures: 1 } });
    // edge-b cannot train: it declines round 0 of a job with the error, which becomes its last error.
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', { token: ADMIN, json: federated('agents', { rounds: 1 }) });
    const trainError = 'trainLocal: parameters have length 442, softmax on 64x26 needs 1690';
    await answerRounds({
      base,
      adminToken: ADMIN,
      jobId: job.body.id,
      agents: [a, b],
      to: 1,
      answer: (k) => (k === 0 ? 'update' : { error: trainError }),
    });

    const res = await page.goto(`${base}/dashboard`);
    expect(res?.status()).toBe(200);
    await page.fill('#token', 'not-the-admin-token-000000');
    await page.click('#signin button');
    await page.waitForSelector('#error:has-text("Invalid API key")');
    expect(await page.evaluate("sessionStorage.getItem('flotilla-api-key')")).toBeNull();

    await page.fill('#token', ADMIN);
    await page.click('#signin button');
    await page.waitForSelector('#overview');
    await page.evaluate('window.__notReloaded = true');
    expect(await text('#whoami')).toBe('ADMIN_TOKEN (bootstrap) · admin');
    // The key is in this tab's sessionStorage only.
    expect(await page.evaluate("sessionStorage.getItem('flotilla-api-key')")).toBe(ADMIN);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    expect(page.url()).not.toContain(ADMIN);
    const agents = (await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body;
    expect(await text('#tile-online .tile-value')).toBe(String(agents.filter((x) => x.online).length));
    expect(await text('#tile-revoked .tile-value')).toBe('0');
    expect(await texts('#agent-errors li')).toContain(`edge-b round 0 of job ${job.body.id}: ${trainError}`);

    await follow('#nav-agents');
    await page.waitForSelector('#agents tbody tr[data-name="edge-c"]');
    const row = (name: string) => `#agents tbody tr[data-name="${name}"]`;
    expect(await texts(`${row('edge-a')} td`)).toEqual([
      'edge-a',
      'online',
      'uci-digits',
      'tensorflow-gpu · gpu: NVIDIA H100 80GB HBM3',
      'gpu=true, suite=agents',
      expect.stringMatching(/^\d+ s ago$/),
      '3 / 1',
      '1 / 1 (100 %)',
      '—',
      'revoke',
    ]);
    expect((await texts(`${row('edge-b')} td`)).slice(7, 9)).toEqual(['0 / 1 (0 %)', `round 0 of job ${job.body.id}: ${trainError}`]);
    expect((await texts(`${row('edge-c')} td`))[7]).toBe('—');
    // As the API counts them: edge-a took part in round 0, edge-b was eligible and declined, edge-c (mnist) was not eligible.
    const counted = (await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body;
    expect(Object.fromEntries(counted.map((x) => [x.name, x.participation]))).toEqual({
      'edge-a': { eligible: 1, participated: 1 },
      'edge-b': { eligible: 1, participated: 0 },
      'edge-c': { eligible: 0, participated: 0 },
    });
    // Filters: by words (dataset, label, name), and by state.
    await page.fill('#agent-filter', 'mnist');
    await waitFor('filtered', async () => (await page.locator('#agents tbody tr').count()) === 1);
    expect(await texts('#agents tbody tr td.name')).toEqual(['edge-c']);
    await page.fill('#agent-filter', 'suite=agents gpu');
    await waitFor('filtered', async () => (await page.locator('#agents tbody tr').count()) === 1);
    expect(await texts('#agents tbody tr td.name')).toEqual(['edge-a']);
    await page.fill('#agent-filter', '');

    // Revoke edge-c, after a confirmation: the API revokes it, the page and the overview show it.
    page.once('dialog', (d) => void d.accept());
    await page.click(`${row('edge-c')} button[data-revoke]`);
    await page.waitForSelector(`${row('edge-c')} .badge:has-text("revoked")`);
    expect(
      (await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body.find((x) => x.id === c.id)!.revokedAt,
    ).not.toBeNull();
    await page.selectOption('#agent-state', 'revoked');
    await waitFor('state filter', async () => (await page.locator('#agents tbody tr').count()) === 1);
    await follow('#nav-overview');
    await page.waitForSelector('#tile-revoked .tile-value:has-text("1")');

    // Blob store: a dry run reports and deletes nothing.
    await page.click('#sweep-preview');
    await page.waitForSelector('#sweep-report dd');
    const sweep = await texts('#sweep-report dd');
    expect(Number(sweep[0])).toBeGreaterThanOrEqual(3); // the initial model, an update, round 0's model
    expect(sweep[3]).toMatch(/^0 \(/); // everything is younger than the default grace period

    await signOut();
    expect(await page.evaluate("sessionStorage.getItem('flotilla-api-key')")).toBeNull();
  }, 90_000);

  it('shows a federated job: its spec, where its accuracy comes from, curves, heat-map, FedAU weights, rounds; updates live; downloads the model; cancels', async () => {
    const agents = await registerAgents(
      base,
      JOIN,
      ['fed-1', 'fed-2', 'fed-3'].map((name) => ({ name, datasets: ['uci-digits'], labels: { suite: 'live' } })),
    );
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: federated('live', { name: 'live-job', rounds: 10, minAgents: 1 }),
    });
    const jobId = job.body.id;
    // fed-3 participates in every other round only.
    const answer = (k: number, r: number) => (k === 2 && r % 2 === 1 ? 'decline' : 'update');
    await answerRounds({ base, adminToken: ADMIN, jobId, agents, to: 3, answer });

    await signIn(ADMIN);
    await page.evaluate('window.__notReloaded = true');
    await follow('#nav-jobs');
    await page.waitForSelector(`#jobs tr[data-job="${jobId}"]`);
    const view = (await call<JobView & { kind: 'federated' }>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN })).body;
    const accuracy = `${(100 * view.latestMetrics!.testAccuracy).toFixed(2)} %`;
    expect(await texts(`#jobs tr[data-job="${jobId}"] td`)).toEqual([
      'live-job',
      'federated',
      'uci-digits',
      'softmax',
      'running',
      'round 3 / 10',
      accuracy,
      expect.stringMatching(/ago$/),
    ]);
    await follow(`#jobs tr[data-job="${jobId}"] a`);
    await page.waitForSelector('#rounds tr[data-round="2"]');
    expect(await text('#job-id')).toBe(jobId);
    expect(JSON.parse(await text('#job-spec'))).toEqual(view.spec);
    expect(await text('#job-evaluation')).toBe(
      `the coordinator's held-out split of uci-digits: ${view.evaluation!.heldOutRows} rows (${(100 * view.evaluation!.fraction).toFixed(0)} % of the file)`,
    );
    expect(await text('#job-placement')).toBe('{suite: "live"}');
    expect(await text('#job-policy')).toBe('reject beyond 10 × the median norm · 0 rejected, 0 clipped');
    // Rounds: newest... as the API pages them, with ω of the first round's participants.
    expect((await texts('#rounds tr[data-round="0"] td')).slice(0, 5)).toEqual([
      '0',
      'closed',
      '3 / 3',
      '1.000 – 1.000',
      expect.stringMatching(/ %$/),
    ]);
    // The curves plot the initial model and each closed round; the heat-map has a column per closed round.
    expect(await page.getAttribute('#accuracy-chart', 'data-points')).toBe('4');
    expect(await page.getAttribute('#loss-chart', 'data-points')).toBe('4');
    expect(await page.getAttribute('#heatmap-canvas', 'data-rounds')).toBe('3');
    expect(await texts('.heatmap-names li')).toEqual(['fed-1', 'fed-2', 'fed-3', 'round']);
    expect(await text('#heatmap-legend li[data-state="participated"] .count')).toBe('8');
    expect(await text('#heatmap-legend li[data-state="declined"] .count')).toBe('1');
    // FedAU weight per agent against its observed rate: fed-3 took part in 2 of 3 rounds.
    expect(await page.getAttribute('#weights-chart', 'data-points')).toBe('3');
    expect(await text('#weights-agents')).toMatch(/^fed-3: rate 0\.67, ω \d+\.\d\d · fed-\d: rate 1\.00/);
    // Hovering a cell names the agent, the round, the outcome and the FedAU weight the round gave the agent.
    expect(await hoverCell(2, 1)).toMatch(/^fed-3 · round 1: declined · ω \d+\.\d{3}$/);

    // Live: two more rounds close through the API; the open page follows without a reload.
    await answerRounds({ base, adminToken: ADMIN, jobId, agents, from: 3, to: 5, answer });
    await page.waitForSelector('#rounds tr[data-round="4"] td:has-text("closed")');
    await page.waitForSelector('#heatmap-canvas[data-rounds="5"]');
    await page.waitForSelector('#accuracy-chart[data-points="6"]');
    await page.waitForSelector('#job-summary .progress-text:has-text("round 5 / 10")');
    expect(await page.evaluate('window.__notReloaded')).toBe(true);
    // The overview counts the rounds closed in the last five minutes: this job's five (the only running job with any).
    await follow('#nav-overview');
    await page.waitForSelector(`#running-jobs tr[data-job="${jobId}"]`);
    expect(await text('#tile-rate .tile-value')).toBe((5 / 5).toFixed(1));
    await page.goBack();
    await page.waitForSelector('#heatmap-canvas');

    // The model: the latest global model's float32 parameters, fetched with the key and saved as a file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const saved = toFloat32(readFileSync(await download.path()));
    const model = await call<Uint8Array>(base, 'GET', `/api/v1/jobs/${jobId}/model`, { token: ADMIN });
    expect(saved).toEqual(toFloat32(model.body));
    expect(saved.length).toBe(P);

    page.once('dialog', (d) => void d.accept());
    await page.click('#cancel');
    await page.waitForSelector('#job-page[data-status="cancelled"]');
    expect((await call<JobView>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN })).body.status).toBe('cancelled');
    expect(await page.isVisible('#cancel')).toBe(false);
    await signOut();
  }, 90_000);

  it('draws the heat-map of a 210-round job: every round a column, agent names, round numbers, a legend, scrolling sideways', async () => {
    const agents = await registerAgents(
      base,
      JOIN,
      ['long-1', 'long-2', 'long-3'].map((name) => ({ name, datasets: ['uci-digits'], labels: { suite: 'long' } })),
    );
    const rounds = 210;
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      // Two rounds more than are answered before the page opens: they close while it is shown.
      json: federated('long', { name: 'long-job', rounds: rounds + 2, minAgents: 1 }),
    });
    const jobId = job.body.id;
    // long-1 always, long-2 every other round, long-3 every fifth.
    await answerRounds({
      base,
      adminToken: ADMIN,
      jobId,
      agents,
      to: rounds,
      answer: (k, r) => (k === 0 || (k === 1 && r % 2 === 0) || (k === 2 && r % 5 === 0) ? 'update' : 'decline'),
    });
    const matrix = (await call<ParticipationView>(base, 'GET', `/api/v1/jobs/${jobId}/participation`, { token: ADMIN })).body;
    expect(matrix.rounds).toHaveLength(rounds);

    await signIn(ADMIN);
    await page.goto(`${base}/dashboard/jobs/${jobId}`);
    await page.waitForSelector(`#heatmap-canvas[data-rounds="${rounds}"]`);
    expect(await page.getAttribute('#heatmap-canvas', 'data-first-round')).toBe('0');
    expect(await page.getAttribute('#heatmap-canvas', 'data-last-round')).toBe(String(rounds - 1));
    expect(await texts('.heatmap-names li')).toEqual(['long-1', 'long-2', 'long-3', 'round']);
    // 210 + 105 + 42 participations, the rest declined.
    expect(await text('#heatmap-legend li[data-state="participated"] .count')).toBe(String(210 + 105 + 42));
    expect(await text('#heatmap-legend li[data-state="declined"] .count')).toBe(String(3 * 210 - 357));
    // Wider than its box: it scrolls sideways, starting at the latest rounds, and the names stay put.
    const cw = Number(await page.getAttribute('#heatmap-canvas', 'data-cell-width'));
    // (The tests compile without the DOM library: the element's type is written out.)
    const scroll = await page.$eval('.heatmap-scroll', (e: { scrollWidth: number; clientWidth: number; scrollLeft: number }) => ({
      width: e.scrollWidth,
      client: e.clientWidth,
      left: e.scrollLeft,
    }));
    expect(scroll.width).toBeGreaterThanOrEqual(rounds * cw);
    expect(scroll.client).toBeLessThan(scroll.width);
    expect(scroll.left).toBe(scroll.width - scroll.client);
    // The last column is round 209, where long-3 declined (209 is not a multiple of 5).
    expect(await hoverCell(2, -1)).toMatch(/^long-3 · round 209: declined · ω \d+\.\d{3}$/);
    // Scrolled to the left end, the first column is round 0, where all three took part.
    await page.$eval('.heatmap-scroll', (e: { scrollLeft: number }) => (e.scrollLeft = 0));
    expect(await hoverCell(2, 0, 'round 0:')).toMatch(/^long-3 · round 0: participated · ω \d+\.\d{3} · update norm /);
    // The rounds table pages: 20 rounds a page, 11 pages.
    expect(await text('#rounds-page')).toBe(`page 1 of 11 · ${rounds + 1} rounds`); // the closed ones and the open one
    await page.click('#rounds-next');
    await page.waitForSelector('#rounds tr[data-round="20"]');
    expect(await texts('#rounds tbody tr td:first-child')).toEqual(Array.from({ length: 20 }, (_, i) => String(20 + i)));
    // A round closing while the reader looks at the first rounds keeps their place…
    const scrolled = () =>
      page.$eval('.heatmap-scroll', (e: { scrollWidth: number; clientWidth: number; scrollLeft: number }) => ({
        width: e.scrollWidth,
        client: e.clientWidth,
        left: e.scrollLeft,
      }));
    const closeOne = (round: number) =>
      answerRounds({ base, adminToken: ADMIN, jobId, agents, from: round, to: round + 1, answer: () => 'update' });
    await closeOne(rounds);
    await page.waitForSelector(`#heatmap-canvas[data-rounds="${rounds + 1}"]`);
    expect((await scrolled()).left).toBe(0);
    // …and one following the latest rounds stays with them.
    await page.$eval('.heatmap-scroll', (e: { scrollWidth: number; scrollLeft: number }) => (e.scrollLeft = e.scrollWidth));
    await closeOne(rounds + 1);
    await page.waitForSelector(`#heatmap-canvas[data-rounds="${rounds + 2}"]`);
    const end = await scrolled();
    expect(end.left).toBe(end.width - end.client);
    await signOut();
  }, 180_000);

  it('submits a job from its JSON spec: the API’s validation errors show beside their fields, a valid spec opens the new job', async () => {
    await signIn(ADMIN);
    await page.evaluate('window.__notReloaded = true');
    await follow('#nav-submit');
    await page.waitForSelector('#spec');
    const bad = { kind: 'federated', dataset: 'uci-digits', model: { arch: 'mlp', hidden: 0 }, rounds: 0, minAgents: 1 };
    const spec = JSON.stringify(bad, null, 2);
    await page.fill('#spec', spec);
    await page.click('#submit');
    await page.waitForSelector('#spec-errors .field-error');
    const lineOf = (key: string) => spec.split('\n').findIndex((l) => l.includes(`"${key}":`)) + 1;
    type Attributed = { getAttribute(name: string): string | null };
    const errors = await page.$$eval(
      '#spec-errors li.has-error',
      (lis: (Attributed & { querySelectorAll(s: string): ArrayLike<Attributed> })[]) =>
        lis.map((li) => ({
          line: Number(li.getAttribute('data-line')),
          fields: Array.from(li.querySelectorAll('.field-error')).map((e) => e.getAttribute('data-field')),
        })),
    );
    expect(errors).toEqual([
      { line: lineOf('hidden'), fields: ['model.hidden'] },
      { line: lineOf('rounds'), fields: ['rounds'] },
    ]);
    expect(await text('#submit-error')).toMatch(/^Invalid job spec: /);
    // The refusal is the only resource error the page logged.
    expect(pageErrors.splice(0)).toEqual(['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
    // The API said so: the same fields.
    const refused = await call<{ details: { fields: { field: string }[] } }>(base, 'POST', '/api/v1/jobs', { token: ADMIN, json: bad });
    expect(refused.status).toBe(400);
    expect(refused.body.details.fields.map((f) => f.field).sort()).toEqual(['model.hidden', 'rounds']);

    await page.fill(
      '#spec',
      JSON.stringify({ ...bad, name: 'from-the-form', model: { arch: 'softmax' }, rounds: 2, agentSelector: { suite: 'nobody' } }, null, 2),
    );
    await page.click('#submit');
    await page.waitForSelector('#job-page');
    expect(await page.evaluate('window.__notReloaded')).toBe(true);
    const id = await text('#job-id');
    const created = (await call<JobView>(base, 'GET', `/api/v1/jobs/${id}`, { token: ADMIN })).body;
    expect(created.name).toBe('from-the-form');
    // It waits for agents, and the page says why, as the API does.
    await page.waitForSelector('#job-waiting');
    const waiting = await waitFor(
      'waiting',
      async () => (await call<JobView>(base, 'GET', `/api/v1/jobs/${id}`, { token: ADMIN })).body.waiting,
    );
    await page.waitForSelector(`#job-waiting:has-text("${waiting.slice(0, 40)}")`);
    expect(await text('#job-waiting')).toBe(waiting);
    await call(base, 'POST', `/api/v1/jobs/${id}/cancel`, { token: ADMIN });
    await signOut();
  }, 60_000);

  it('shows a key only what its role may do: a viewer neither submits, cancels nor sweeps; a submitter cancels', async () => {
    const viewer = await issueApiKey(base, 'viewer', 'wall screen');
    const submitter = await issueApiKey(base, 'submitter', 'ci');
    await registerAgents(base, JOIN, [{ name: 'seen-by-all', datasets: ['uci-digits'] }]);
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: federated('nobody', { rounds: 3, minAgents: 50 }),
    });
    const jobId = job.body.id;

    await signIn(viewer.key);
    expect(await text('#whoami')).toBe('wall screen · viewer');
    await page.waitForSelector('#overview');
    expect(await page.isVisible('#nav-submit')).toBe(false);
    expect(await page.isVisible('#sweep-preview')).toBe(false);
    await page.goto(`${base}/dashboard/jobs/${jobId}`);
    await page.waitForSelector('#job-summary');
    expect(await page.isVisible('#cancel')).toBe(false);
    await page.goto(`${base}/dashboard/agents`);
    await page.waitForSelector('#agents tbody tr');
    expect(await page.locator('button[data-revoke]').count()).toBe(0);
    await signOut();

    await signIn(submitter.key);
    expect(await text('#whoami')).toBe('ci · submitter');
    expect(await page.isVisible('#nav-submit')).toBe(true);
    await page.goto(`${base}/dashboard/jobs/${jobId}`);
    await page.waitForSelector('#cancel');
    page.once('dialog', (d) => void d.accept());
    await page.click('#cancel');
    await page.waitForSelector('#job-page[data-status="cancelled"]');
    await signOut();
    // A 403 would show as a console error (afterEach): neither key was made to call what its role may not.
  }, 60_000);

  it("shows a NAS job's supernet tree and a bilevel job's runs as they start", async () => {
    // Nobody matches their selector: they stay at their start, which is all their pages can show here.
    const nas = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'nas', name: 'nas-job', dataset: 'uci-digits', agentSelector: { suite: 'nobody' } },
    });
    expect(nas.status).toBe(201);
    const bilevel = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'bilevel', name: 'bilevel-job', problem: { kind: 'test-case', name: 'T1' }, agentSelector: { suite: 'nobody' } },
    });
    expect(bilevel.status).toBe(201);
    await signIn(ADMIN);
    await page.goto(`${base}/dashboard/jobs/${nas.body.id}`);
    await page.waitForSelector('#nas-tree .nas-node[data-node="root"]');
    expect(await text('#nas-tree .nas-node[data-node="root"] .badge')).toBe('training');
    expect(await text('section.card:has(#nas-tree) header .muted')).toBe('chain space · 3 edges × 4 ops · 64 architectures');
    expect(await page.isVisible('#download')).toBe(false); // no model before the search ends
    const cell = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'nas', dataset: 'uci-digits', space: { type: 'cell' }, search: 'darts', agentSelector: { suite: 'nobody' } },
    });
    expect(cell.status).toBe(201);
    await page.goto(`${base}/dashboard/jobs/${cell.body.id}`);
    await page.waitForSelector('#nas-tree .nas-node[data-node="root"]');
    expect(await text('section.card:has(#nas-tree) header .muted')).toBe('cell space, darts · 6 edges × 5 ops · 15625 architectures');
    await page.goto(`${base}/dashboard/jobs/${bilevel.body.id}`);
    await page.waitForSelector('#job-summary');
    const runs = (await call<unknown[]>(base, 'GET', `/api/v1/jobs/${bilevel.body.id}/bilevel`, { token: ADMIN })).body;
    expect(runs.length).toBeGreaterThan(0); // one run per method × seed × penalty, created at submission
    await page.waitForSelector('#bilevel-runs tbody tr');
    expect(await page.locator('#bilevel-runs tbody tr').count()).toBe(runs.length);
    expect(await page.getAttribute('#stationarity-chart', 'data-points')).toBe('0');
    for (const id of [nas.body.id, bilevel.body.id]) await call(base, 'POST', `/api/v1/jobs/${id}/cancel`, { token: ADMIN });
    await signOut();
  }, 60_000);

  it("shows the update policy's rejected update in the heat-map and the rounds table", async () => {
    const agents = await registerAgents(
      base,
      JOIN,
      ['edge-c', 'edge-d', 'edge-e'].map((name) => ({ name, datasets: ['uci-digits'], labels: { suite: 'policy' } })),
    );
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: federated('policy', { rounds: 2, minAgents: 3 }),
    });
    const jobId = job.body.id;
    // Two honest updates and one a million times larger: beyond 10 × the median norm, rejected at the close.
    await answerRounds({ base, adminToken: ADMIN, jobId, agents, to: 1, answer: (k) => (k === 2 ? { scale: 1e6 } : 'update') });
    await call(base, 'POST', `/api/v1/jobs/${jobId}/cancel`, { token: ADMIN });

    await signIn(ADMIN);
    await page.goto(`${base}/dashboard/jobs/${jobId}`);
    await page.waitForSelector('#rounds tr[data-round="0"]');
    expect(await text('#job-policy')).toBe('reject beyond 10 × the median norm · 1 rejected, 0 clipped');
    expect((await texts('#rounds tr[data-round="0"] td')).slice(7, 10)).toEqual([expect.stringMatching(/^0\.18\d\d$/), '1', '0']);
    expect(await text('#heatmap-legend li[data-state="rejected"] .count')).toBe('1');
    expect(await text('#heatmap-legend li[data-state="participated"] .count')).toBe('2');
    expect(await hoverCell(2, 0)).toMatch(/^edge-e · round 0: rejected by the update policy · ω \d+\.\d{3} · update norm 1\.8\d\de\+4$/);
    await signOut();
  }, 60_000);
});
