import type { JobView } from '@flotilla/contracts';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { issueApiKey } from '../support/auth';
import { call, floats, waitFor } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const ADMIN = TEST_ADMIN_TOKEN;
const JOIN = TEST_JOIN_TOKEN;
const P = 650; // softmax on digits
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The admin dashboard in a real browser (Debian's Chromium, headless, driven by playwright-core) against a real
 * coordinator, PostgreSQL and Redis: what it shows must be what the API says, and it must not run anything the page's
 * Content-Security-Policy forbids.
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
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/401 \(Unauthorized\)/.test(m.text())) pageErrors.push(m.text());
    });
  }, 60_000);

  // Closing Chromium and a coordinator on a loaded two-core machine (CI runs the e2e agents beside it) can take longer
  // than jest's 5 s default for a hook.
  afterAll(async () => {
    await browser?.close();
    await coordinator?.stop();
  }, 30_000);

  /** The text of every element the selector matches, in document order. */
  const texts = (selector: string): Promise<string[]> => page.locator(selector).allTextContents();

  it('signs in, shows agents, jobs and a federated job as the API reports them, previews a blob sweep, cancels a job', async () => {
    // Two agents and a federated job whose first round has closed.
    const tokens: string[] = [];
    // edge-a declares labels and reports its backend and device; edge-b (an older agent) reports none.
    const described = { labels: { region: 'eu', gpu: 'true' }, backend: 'tensorflow-gpu', device: 'gpu: NVIDIA H100 80GB HBM3' };
    for (const name of ['edge-a', 'edge-b']) {
      const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
        json: { joinToken: JOIN, name, datasets: ['uci-digits'], ...(name === 'edge-a' ? described : {}) },
      });
      expect(r.status).toBe(201);
      tokens.push(`${r.body.agentId}.${r.body.agentSecret}`);
    }
    // edge-a reports its network counters (an agent that retried); edge-b has reported none.
    const beat = await call(base, 'POST', '/api/v1/agents/heartbeat', { token: tokens[0], json: { network: { retries: 3, failures: 1 } } });
    expect(beat.status).toBe(204);
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 3, roundDeadlineMs: 60_000, minAgents: 2 },
    });
    expect(job.status).toBe(201);
    const jobId = job.body.id;
    await waitFor(
      'round 0 open',
      async () =>
        (await call<{ status: string }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, { token: ADMIN })).body[0]?.status === 'open',
    );
    for (const [k, t] of tokens.entries()) {
      const delta = Float32Array.from({ length: P }, (_, i) => 1e-3 * Math.sin(i + k));
      expect(
        (
          await call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/0/update?exampleCount=16&trainLoss=0.5&durationMs=3`, {
            token: t,
            raw: floats(delta),
          })
        ).status,
      ).toBe(200);
    }
    const rounds = await waitFor('round 0 closed', async () => {
      const r = await call<{ round: number; status: string; metrics: { testAccuracy: number } | null }[]>(
        base,
        'GET',
        `/api/v1/jobs/${jobId}/rounds`,
        { token: ADMIN },
      );
      return r.body[0]?.status === 'closed' ? r.body : undefined;
    });

    // edge-b cannot train round 1 (its file does not fit the model): it declines with the error, which the agents
    // table shows as its last error.
    await waitFor(
      'round 1 open',
      async () =>
        (await call<{ status: string }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, { token: ADMIN })).body[1]?.status === 'open',
    );
    const trainError = 'trainLocal: parameters have length 442, softmax on 64x26 needs 1690';
    expect(
      (
        await call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/1/decline`, {
          token: tokens[1],
          json: { reason: 'error', message: trainError },
        })
      ).status,
    ).toBe(200);

    // The page, with a strict Content-Security-Policy and a fresh nonce per response.
    const res = await page.goto(`${base}/dashboard`);
    expect(res?.status()).toBe(200);
    const csp = res!.headers()['content-security-policy'];
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("default-src 'none'");
    const again = await fetch(`${base}/dashboard`);
    expect(again.headers.get('content-security-policy')).not.toBe(csp);

    // A wrong token: the API's reason is shown, nothing else.
    await page.fill('#token', 'not-the-admin-token-000000');
    await page.click('#signin button');
    await page.waitForSelector('#error:has-text("Invalid API key")');
    expect(await page.isVisible('#jobs-section')).toBe(false);

    await page.fill('#token', ADMIN);
    await page.click('#signin button');
    await page.waitForSelector('#agents tbody tr >> nth=1');
    expect(await page.textContent('#whoami')).toBe('ADMIN_TOKEN (bootstrap) · admin');
    expect(await page.textContent('#agents-summary')).toBe('(2 of 2 online)');
    expect((await texts('#agents tbody tr td:first-child')).sort()).toEqual(['edge-a', 'edge-b']);
    const names = await texts('#agents tbody tr td:first-child');
    const byName = (column: string[]) => Object.fromEntries(names.map((n, i) => [n, column[i]]));
    expect(byName(await texts('#agents tbody tr td:nth-child(3)'))).toEqual({
      'edge-a': 'tensorflow-gpu · gpu: NVIDIA H100 80GB HBM3',
      'edge-b': '—',
    });
    expect(byName(await texts('#agents tbody tr td:nth-child(4)'))).toEqual({ 'edge-a': 'gpu=true, region=eu', 'edge-b': '—' });
    const network = await texts('#agents tbody tr td:nth-child(8)');
    expect(Object.fromEntries(names.map((n, i) => [n, network[i]]))).toEqual({ 'edge-a': '3 / 1', 'edge-b': '—' });
    const errors = await texts('#agents tbody tr td:nth-child(9)');
    expect(Object.fromEntries(names.map((n, i) => [n, errors[i]]))).toEqual({
      'edge-a': '—',
      'edge-b': `round 1 of job ${jobId}: ${trainError}`,
    });
    await page.waitForSelector(`#jobs tr[data-job="${jobId}"]`);
    const jobRow = await texts(`#jobs tr[data-job="${jobId}"] td`);
    expect(jobRow.slice(1, 4)).toEqual(['federated', 'running', 'round 1 / 3']);
    const accuracy = `${(100 * rounds[0].metrics!.testAccuracy).toFixed(2)} %`;
    expect(jobRow[4]).toBe(accuracy);

    // The job: summary, the rounds as the API has them, the chart and the participation grid.
    await page.click(`#jobs tr[data-job="${jobId}"]`);
    await page.waitForSelector('#rounds tr[data-round="0"]');
    expect(await page.textContent('#job-id')).toBe(jobId);
    const round0 = await texts('#rounds tr[data-round="0"] td');
    expect(round0.slice(0, 3)).toEqual(['0', 'closed', '2 / 2']);
    expect(round0[3]).toBe('1.000 – 1.000'); // FedAU ω of two first-time participants
    expect(round0[4]).toBe(accuracy);
    expect(await page.getAttribute('#accuracy-chart path[data-points]', 'data-points')).toBe('2'); // the initial model and round 0
    expect(await texts('#accuracy-chart circle title')).toEqual([
      expect.stringMatching(/^initial model: \d+\.\d\d %$/),
      `after round 0: ${accuracy}`,
    ]);
    // 2 agents × the rounds opened so far; both participated in round 0.
    const cells = await Promise.all((await page.locator('#participation .cell').all()).map((c) => c.getAttribute('class')));
    expect(cells.length).toBe(
      2 *
        (await call<unknown[]>(base, 'GET', `/api/v1/jobs/${jobId}/participation`, { token: ADMIN }).then(
          (r) => (r.body as unknown as { rounds: unknown[] }).rounds.length,
        )),
    );
    expect(cells.filter((c) => c === 'cell p')).toHaveLength(2);

    // Blob store: a dry run reports and deletes nothing.
    await page.click('#sweep-preview');
    await page.waitForSelector('#sweep dt');
    const sweep = await texts('#sweep dd');
    expect(Number(sweep[0])).toBeGreaterThanOrEqual(4); // initial model, 2 updates, round 0's model
    expect(sweep[3]).toMatch(/^0 \(/); // everything is younger than the default grace period

    // Cancel, after a confirmation.
    page.once('dialog', (d) => void d.accept());
    await page.click('#cancel');
    await waitFor(
      'job cancelled',
      async () => (await call<{ status: string }>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN })).body.status === 'cancelled',
    );
    await page.waitForSelector(`#jobs tr[data-job="${jobId}"] td:has-text("cancelled")`);
    expect(await page.isVisible('#cancel')).toBe(false);

    // Signing out forgets the token.
    await page.click('#signout');
    expect(await page.evaluate("sessionStorage.getItem('flotilla-api-key')")).toBeNull();
    expect(await page.isVisible('#agents-section')).toBe(false);
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('shows a key only what its role may do: a viewer neither cancels nor sweeps, a submitter cancels, and neither calls what it may not', async () => {
    const viewer = await issueApiKey(base, 'viewer', 'wall screen');
    const submitter = await issueApiKey(base, 'submitter', 'ci');
    // A job that waits for more agents than there are, so it stays running; only agents labelled gpu=true count.
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: {
        kind: 'federated',
        dataset: 'uci-digits',
        model: { arch: 'softmax' },
        rounds: 3,
        minAgents: 50,
        agentSelector: { gpu: 'true' },
      },
    });
    expect(job.status).toBe(201);
    const jobId = job.body.id;

    const signInAndOpenJob = async (key: string) => {
      await page.goto(`${base}/dashboard`);
      await page.fill('#token', key);
      await page.click('#signin button');
      await page.click(`#jobs tr[data-job="${jobId}"]`);
      await page.waitForSelector(`#job-id:has-text("${jobId}")`);
      await page.waitForSelector('#job-summary dd:has-text("running")');
    };

    await signInAndOpenJob(viewer.key);
    expect(await page.textContent('#whoami')).toBe('wall screen · viewer');
    // The job says why it does not progress, as the API does.
    const view = await call<JobView>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN });
    expect(view.body.waiting).toMatch(
      /^waiting for agents: \d+ of 50 required agents online match \{gpu: "true"\} for dataset uci-digits \(\d+ online for it in all\)$/,
    );
    expect(await page.textContent('#job-waiting')).toBe(view.body.waiting);
    expect(await page.textContent('#job-placement')).toBe('{gpu: "true"}');
    const { matching, online } = view.body.agents!;
    expect(await page.textContent('#job-agents')).toBe(`${matching} of ${online} online match`);
    expect(await page.isVisible('#agents-section')).toBe(true);
    expect(await page.isVisible('#cancel')).toBe(false);
    expect(await page.isVisible('#sweep-preview')).toBe(false);
    await page.click('#signout');

    await signInAndOpenJob(submitter.key);
    expect(await page.textContent('#whoami')).toBe('ci · submitter');
    expect(await page.isVisible('#sweep-preview')).toBe(false);
    await page.waitForSelector('#cancel', { state: 'visible' });
    page.once('dialog', (d) => void d.accept());
    await page.click('#cancel');
    await page.waitForSelector(`#jobs tr[data-job="${jobId}"] td:has-text("cancelled")`);
    await page.click('#signout');
    // A 403 would show as a console error: neither key was made to call what its role may not.
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("shows the update policy: the job's rule and counts, each round's bound, and a rejected update in the grid", async () => {
    const tokens: string[] = [];
    for (const name of ['edge-c', 'edge-d', 'edge-e']) {
      const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
        json: { joinToken: JOIN, name, datasets: ['uci-digits'] },
      });
      tokens.push(`${r.body.agentId}.${r.body.agentSecret}`);
    }
    // Agents of the tests above may be eligible too and say nothing: the round then closes at its (short) deadline.
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 2, roundDeadlineMs: 2000, minAgents: 3 },
    });
    const jobId = job.body.id;
    await waitFor(
      'round 0 open',
      async () =>
        (await call<{ status: string }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, { token: ADMIN })).body[0]?.status === 'open',
    );
    // Two honest updates and one a million times larger: beyond 10 × the median norm, rejected at the close.
    for (const [k, t] of tokens.entries()) {
      const delta = Float32Array.from({ length: P }, (_, i) => (k === 2 ? 1e3 : 1e-3) * Math.sin(i + k));
      const r = await call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/0/update?exampleCount=16&trainLoss=0.5&durationMs=3`, {
        token: t,
        raw: floats(delta),
      });
      expect(r.status).toBe(200);
    }
    await waitFor('round 0 closed', async () => {
      const r = await call<{ currentRound: number }>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN });
      return r.body.currentRound >= 1;
    });
    await call(base, 'POST', `/api/v1/jobs/${jobId}/cancel`, { token: ADMIN });

    await page.goto(`${base}/dashboard`);
    await page.fill('#token', ADMIN);
    await page.click('#signin button');
    await page.click(`#jobs tr[data-job="${jobId}"]`);
    await page.waitForSelector('#rounds tr[data-round="0"]');
    expect(await texts('#job-summary dd')).toContain('reject beyond 10 × the median norm · 1 rejected, 0 clipped');
    const round0 = await texts('#rounds tr[data-round="0"] td');
    expect(round0.slice(7)).toEqual([expect.stringMatching(/^0\.18\d\d$/), '1', '0']); // bound ≈ 10 · 1e-3 · √(650/2) ≈ 0.18
    const rejected = page.locator('#participation .cell.x');
    expect(await rejected.count()).toBe(1);
    expect(await rejected.getAttribute('data-outcome')).toBe('rejected');
    expect(await rejected.getAttribute('title')).toMatch(/round 0: rejected by the update policy, update norm 1\.8\d\de\+4$/);
    expect(await page.locator('#participation .cell.p').count()).toBe(2);
    await page.click('#signout');
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
