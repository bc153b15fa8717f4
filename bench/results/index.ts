/**
 * The results documents rendered from committed JSON: docs/results/<name>.md from docs/results/<name>.json, by a
 * pure function each. This module only renders (no benchmark code is loaded), so the unit test can import it.
 * fedau.md is rendered by scripts/reproduce-fedau.ts (its own project), with its own unit test.
 */
import { renderBilevel, type BilevelResultsJson } from './bilevel';

export const RENDERERS = {
  bilevel: (json: unknown): string => renderBilevel(json as BilevelResultsJson),
} satisfies Record<string, (json: unknown) => string>;

export type ResultsName = keyof typeof RENDERERS;

export const RESULTS_NAMES = Object.keys(RENDERERS) as ResultsName[];

/** The JSON as written to docs/results/<name>.json (one space of indentation, trailing newline). */
export function serialize(json: unknown): string {
  return JSON.stringify(json, null, 1) + '\n';
}
