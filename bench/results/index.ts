/**
 * The committed results documents rendered from JSON: docs/results/<name>.md from docs/results/<name>.json, by a
 * pure function each. bench/results.spec.ts checks every entry against the committed files; an entry is added
 * with its first committed JSON. This module only renders (no benchmark code is loaded), so the test can import it.
 * fedau.md is rendered by scripts/reproduce-fedau.ts (its own project), with its own unit test.
 */
import { renderAggregation, type AggregationResultsJson } from './aggregation';
import { renderBilevel, type BilevelResultsJson } from './bilevel';
import { renderFleet, type FleetResultsJson } from './fleet';
import { renderNas, type NasResultsJson } from './nas';
import { renderRounds, type RoundsResultsJson } from './rounds';
import { renderScale, type ScaleResultsJson } from './scale';

export const RENDERERS = {
  aggregation: (json: unknown): string => renderAggregation(json as AggregationResultsJson),
  bilevel: (json: unknown): string => renderBilevel(json as BilevelResultsJson),
  nas: (json: unknown): string => renderNas(json as NasResultsJson),
  fleet: (json: unknown): string => renderFleet(json as FleetResultsJson),
  rounds: (json: unknown): string => renderRounds(json as RoundsResultsJson),
  scale: (json: unknown): string => renderScale(json as ScaleResultsJson),
} satisfies Record<string, (json: unknown) => string>;

export type ResultsName = keyof typeof RENDERERS;

export const RESULTS_NAMES = Object.keys(RENDERERS) as ResultsName[];

/** The JSON as written to docs/results/<name>.json (one space of indentation, trailing newline). */
export function serialize(json: unknown): string {
  return JSON.stringify(json, null, 1) + '\n';
}
