import { CreateFederatedJobSchema, type BilevelRunView, type JobView, type NasView, type RoundView } from '@flotilla/contracts';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bilevelLine, endLine, nasLine, roundLine, table } from './format';

const round = (over: Partial<RoundView>): RoundView => ({
  round: 3,
  status: 'closed',
  openedAt: '',
  deadlineAt: '',
  closedAt: '',
  eligible: 8,
  participants: 5,
  weightMin: 1,
  weightMax: 2,
  normBound: null,
  rejected: 0,
  clipped: 0,
  inputModelHash: '',
  outputModelHash: null,
  metrics: { testAccuracy: 0.81234, testLoss: 0.51229, trainLoss: 0.44119 },
  ...over,
});

describe('watch lines', () => {
  it('gives a federated round its index, progress, participants/eligible, held-out accuracy and loss, and policy counts', () => {
    expect(roundLine(round({}), 40)).toBe('round 3 (4/40)  participants 5/8  accuracy 0.8123  loss 0.5123  train loss 0.4412');
    expect(
      roundLine(round({ participants: 0, rejected: 2, clipped: 1, metrics: { testAccuracy: 0.5, testLoss: 1, trainLoss: null } }), 4),
    ).toBe('round 3 (4/4)  participants 0/8  accuracy 0.5000  loss 1.0000  2 rejected, 1 clipped');
  });

  const job = (over: Partial<JobView>): JobView =>
    ({
      id: 'j',
      kind: 'nas',
      status: 'running',
      progress: { done: 2, total: 5, unit: 'stages' },
      error: null,
      result: null,
      ...over,
    }) as JobView;

  it('summarises a NAS job by stage, nodes and candidates', () => {
    const node = (status: NasView['nodes'][number]['status']) => ({ status }) as NasView['nodes'][number];
    const nas = {
      nodes: [node('split'), node('training'), node('training')],
      selection: {
        candidates: [
          { status: 'active', history: [{ accuracy: 0.7 }, { accuracy: 0.82 }] },
          { status: 'eliminated', history: [{ accuracy: 0.6 }] },
        ],
      },
    } as unknown as NasView;
    expect(nasLine(job({}), nas)).toBe(
      'stage 2/5  nodes 3 (1 split, 2 training)  candidates 2 (1 in the running)  best selection accuracy 0.8200',
    );
  });

  it('summarises a bilevel job by iteration, runs, λ range and best accuracy', () => {
    const run = (lambda: number, status: BilevelRunView['status'], testAccuracy: number | null) =>
      ({ lambda, status, testAccuracy, errorToSolution: null }) as BilevelRunView;
    const b = job({ kind: 'bilevel', progress: { done: 40, total: 200, unit: 'iterations' } });
    expect(bilevelLine(b, [run(5, 'running', 0.9), run(12.5, 'completed', 0.93)])).toBe(
      'iteration 40/200  runs 2 (1 completed)  λ 5–12.5  best test accuracy 0.9300',
    );
  });

  it('ends with how the job ended', () => {
    expect(endLine(job({ status: 'failed', error: 'task x failed on 3 agents' }))).toBe(
      'job j failed after 2/5 stages: task x failed on 3 agents',
    );
  });

  it('pads table columns but the last', () => {
    expect(
      table(
        ['A', 'BB'],
        [
          ['long', 'x'],
          ['s', 'yy'],
        ],
      ),
    ).toBe('A     BB\nlong  x\ns     yy');
  });
});

describe('examples/federated-digits.json', () => {
  it('is a valid federated job that shows every default (parsing it adds nothing)', () => {
    const example: unknown = JSON.parse(readFileSync(path.join(__dirname, '../../../examples/federated-digits.json'), 'utf8'));
    expect(CreateFederatedJobSchema.parse(example)).toEqual(example);
  });
});
