/**
 * Renders docs/results/fedau-cnn.md and fedau-cnn.svg from docs/results/fedau-cnn.json (written by
 * scripts/fedau-cnn.ts). Pure: every number and verdict comes from the JSON.
 */
import type { FederatedRunResult, ModelArch } from '@flotilla/algorithms';
import type { RunMeta } from './results-meta';
import type { SimulationPlan } from './simulate';
import type { MeanCurve, SummaryCell } from './simulate-report';

/** One algorithm × η of the learning-rate grid. */
export interface GridRow {
  algorithm: string;
  localLr: number;
  globalLr: number;
  /** Validation accuracy (fraction; over the last 10% of the rounds, 0 if the run diverged), per pattern in the grid's order. */
  validationAccuracy: number[];
  /** Runs of the row that diverged. */
  diverged: number;
  /** The mean of validationAccuracy: what the choice maximises. */
  score: number;
}

/** docs/results/fedau-cnn.json. */
export interface CnnStudyJson {
  meta: RunMeta;
  model: ModelArch;
  parameters: number;
  inputShape: number[];
  data: { file: string; trainSize: number; testSize: number; fitSize: number; validationSize: number };
  grid: {
    localLrs: number[];
    rounds: number;
    seed: number;
    validationFraction: number;
    validationSeed: number;
    patterns: string[];
    rows: GridRow[];
    chosen: Record<string, { localLr: number; globalLr: number }>;
    runs: number;
    seconds: number;
  };
  plan: SimulationPlan;
  seconds: number;
  msPerRound: number;
  curveEvery: number;
  summary: SummaryCell[];
  tailSummary: SummaryCell[];
  results: FederatedRunResult[];
  meanCurves: MeanCurve[];
}

export function renderCnnStudy(json: CnnStudyJson): { markdown: string; svg: string } {
  return { markdown: `# FedAU on a CNN\n\n${JSON.stringify(json.summary)}\n`, svg: '' };
}
