import type { AgentView, BilevelRunView, DatasetSummary, JobView, NasView, RoundMetrics, RoundView } from '@flotilla/contracts';

/** Plain columns separated by two spaces, the header first; no colour, so it pipes into grep and awk. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** The first 8 hex digits of a UUID: commands take any unique prefix of an id. */
export const shortId = (id: string): string => id.slice(0, 8);

const num = (x: number | null | undefined, digits = 4): string => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const pct = (f: number): string => `${Math.round(f * 1000) / 10} %`;

/** The dataset a job works on (a bilevel test case has none: its name instead). */
export function jobDataset(job: JobView): string {
  switch (job.kind) {
    case 'federated':
    case 'nas':
      return job.spec.dataset;
    case 'bilevel':
      return job.spec.problem.kind === 'hyper-cleaning' ? job.spec.problem.dataset : job.spec.problem.name;
  }
}

export function progressText(job: JobView): string {
  return `${job.progress.done}/${job.progress.total} ${job.progress.unit}`;
}

/** The accuracy a job reports so far: a federated job's latest (or initial) held-out accuracy, a NAS result's. */
export function jobAccuracy(job: JobView): number | null {
  switch (job.kind) {
    case 'federated':
      return (job.latestMetrics ?? job.initialMetrics)?.testAccuracy ?? null;
    case 'nas':
      return (job.result as { accuracy?: number } | null)?.accuracy ?? null;
    case 'bilevel':
      return null;
  }
}

export function jobsTable(jobs: JobView[]): string {
  return table(
    ['ID', 'KIND', 'STATUS', 'PROGRESS', 'DATASET', 'ACCURACY', 'CREATED', 'NAME'],
    jobs.map((j) => [
      shortId(j.id),
      j.kind,
      j.status,
      progressText(j),
      jobDataset(j),
      num(jobAccuracy(j)),
      j.createdAt.replace(/\.\d+Z$/, 'Z'),
      j.name ?? '',
    ]),
  );
}

/** "evaluated on 359 held-out rows of uci-digits (20 % of its file)": where a federated job's test metrics come from. */
export function evaluationText(job: Extract<JobView, { kind: 'federated' }>): string {
  const e = job.evaluation;
  if (!e) return `dataset ${job.spec.dataset} is no longer in the coordinator's catalogue`;
  return `evaluated on ${e.heldOutRows} held-out rows of ${e.dataset} (${pct(e.fraction)} of its file)`;
}

function metricsText(m: RoundMetrics | null): string {
  if (!m) return 'no metrics';
  return `accuracy ${num(m.testAccuracy)}  loss ${num(m.testLoss)}${m.trainLoss == null ? '' : `  train loss ${num(m.trainLoss)}`}`;
}

/** What `jobs show` prints: one `key: value` line per fact. */
export function jobDetails(job: JobView): string {
  const lines: [string, string][] = [
    ['id', job.id],
    ['kind', job.kind],
    ['name', job.name ?? '-'],
    ['status', job.status],
    ['progress', progressText(job)],
    ['dataset', jobDataset(job)],
    ['created', job.createdAt],
    ['finished', job.finishedAt ?? '-'],
  ];
  switch (job.kind) {
    case 'federated':
      lines.push(
        ['model', `${job.spec.model.arch}, ${job.parameterCount} parameters, sha256 ${job.modelHash}`],
        ['aggregation', job.spec.aggregation.rule],
        ['evaluation', evaluationText(job)],
        ['initial', metricsText(job.initialMetrics)],
        ['latest', metricsText(job.latestMetrics)],
        ['policy', `${job.policy.rejected} updates rejected, ${job.policy.clipped} clipped`],
      );
      if (job.waiting) lines.push(['waiting', job.waiting]);
      break;
    case 'bilevel':
      lines.push(['runs', String(job.runs)], ['dimensions', `x ${job.dimensions.x}, y ${job.dimensions.y}`]);
      break;
    case 'nas':
      lines.push(['parameters', String(job.parameterCount)]);
      break;
  }
  if (job.error) lines.push(['error', job.error]);
  if (job.result != null) lines.push(['result', JSON.stringify(job.result)]);
  const width = Math.max(...lines.map(([k]) => k.length)) + 1;
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n');
}

/** The watch line of the initial model of a federated job. */
export function initialLine(job: Extract<JobView, { kind: 'federated' }>): string {
  return `initial model  ${metricsText(job.initialMetrics)}  (${evaluationText(job)})`;
}

/** One closed round: "round 3 (4/40)  participants 5/8  accuracy 0.8123  loss 0.5123  train loss 0.4412". */
export function roundLine(r: RoundView, totalRounds: number): string {
  const policy = [r.rejected ? `${r.rejected} rejected` : '', r.clipped ? `${r.clipped} clipped` : ''].filter(Boolean).join(', ');
  return [
    `round ${r.round} (${r.round + 1}/${totalRounds})`,
    `participants ${r.participants}/${r.eligible}`,
    metricsText(r.metrics),
    ...(policy ? [policy] : []),
  ].join('  ');
}

/** A NAS job's state when its progress moves: stage, the tree's nodes by status, the candidates. */
export function nasLine(job: JobView, nas: NasView): string {
  const byStatus = new Map<string, number>();
  for (const n of nas.nodes) byStatus.set(n.status, (byStatus.get(n.status) ?? 0) + 1);
  const nodes = [...byStatus].map(([s, c]) => `${c} ${s}`).join(', ');
  const active = nas.selection.candidates.filter((c) => c.status !== 'eliminated').length;
  const best = Math.max(...nas.selection.candidates.flatMap((c) => c.history.map((h) => h.accuracy)));
  return [
    `stage ${job.progress.done}/${job.progress.total}`,
    `nodes ${nas.nodes.length}${nodes ? ` (${nodes})` : ''}`,
    `candidates ${nas.selection.candidates.length}${nas.selection.candidates.length ? ` (${active} in the running)` : ''}`,
    ...(Number.isFinite(best) ? [`best selection accuracy ${num(best)}`] : []),
  ].join('  ');
}

/** A bilevel job's state when its progress moves: outer iteration, runs done, λ range, best test accuracy. */
export function bilevelLine(job: JobView, runs: BilevelRunView[]): string {
  const lambdas = runs.map((r) => r.lambda);
  const accuracies = runs.map((r) => r.testAccuracy).filter((a): a is number => a != null);
  const errors = runs.map((r) => r.errorToSolution).filter((e): e is number => e != null);
  return [
    `iteration ${job.progress.done}/${job.progress.total}`,
    `runs ${runs.length} (${runs.filter((r) => r.status === 'completed').length} completed)`,
    ...(lambdas.length ? [`λ ${formatRange(lambdas)}`] : []),
    ...(accuracies.length ? [`best test accuracy ${num(Math.max(...accuracies))}`] : []),
    ...(errors.length ? [`‖x − x*‖ ${formatRange(errors)}`] : []),
  ].join('  ');
}

function formatRange(xs: number[]): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const f = (x: number): string => String(Number(x.toPrecision(4)));
  return lo === hi ? f(lo) : `${f(lo)}–${f(hi)}`;
}

/** The last line of a watch: how the job ended. */
export function endLine(job: JobView): string {
  const base = `job ${job.id} ${job.status}`;
  switch (job.status) {
    case 'completed': {
      const acc = jobAccuracy(job);
      return `${base} after ${progressText(job)}${acc == null ? '' : `: accuracy ${num(acc)}`}`;
    }
    case 'failed':
      return `${base} after ${progressText(job)}: ${job.error ?? 'no reason given'}`;
    case 'cancelled':
      return `${base} after ${progressText(job)}`;
    case 'running':
      return `${base}: ${progressText(job)}`;
  }
}

/** online / offline / left / revoked, as `agents ls` shows it. */
export function agentState(a: AgentView): string {
  if (a.revokedAt) return 'revoked';
  if (a.online) return 'online';
  if (a.leftAt) return 'left';
  return 'offline';
}

export function agentsTable(agents: AgentView[]): string {
  return table(
    ['ID', 'NAME', 'STATE', 'DATASETS', 'LAST HEARTBEAT', 'LAST ERROR'],
    agents.map((a) => [
      shortId(a.id),
      a.name,
      agentState(a),
      a.datasets.join(',') || '-',
      a.lastHeartbeatAt?.replace(/\.\d+Z$/, 'Z') ?? '-',
      a.lastError ? a.lastError.message.replace(/\s+/g, ' ').slice(0, 80) : '',
    ]),
  );
}

export function datasetsTable(datasets: DatasetSummary[]): string {
  return table(
    ['NAME', 'FEATURES', 'SHAPE', 'CLASSES', 'RANGE', 'HELD OUT', 'DESCRIPTION'],
    datasets.map((d) => [
      d.name,
      String(d.numFeatures),
      d.inputShape.join('×'),
      String(d.numClasses),
      `[${d.featureRange.join(', ')}]`,
      `${d.heldOut.rows} rows (${pct(d.heldOut.fraction)})`,
      d.description ?? '',
    ]),
  );
}
