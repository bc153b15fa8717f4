/**
 * docs/results/fedau.md and its plots must be exactly what `npm run reproduce:fedau -- --render-only` renders from
 * the committed docs/results/fedau.json and comparison files: a hand edit, or a renderer change without
 * re-rendering, fails here.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { renderFromDisk } from './fedau-render';

const DIR = path.resolve(__dirname, '..', 'docs', 'results');

function firstDifference(rendered: string, committed: string): string {
  const a = rendered.split('\n');
  const b = committed.split('\n');
  const i = a.findIndex((l, k) => l !== b[k]);
  return `line ${i + 1}:\n  rendered:  ${a[i]}\n  committed: ${b[i]}`;
}

describe('docs/results/fedau.md is the rendering of its committed JSON', () => {
  const { markdown, svgs } = renderFromDisk(DIR);

  it('fedau.md', () => {
    const committed = readFileSync(path.join(DIR, 'fedau.md'), 'utf8');
    if (markdown !== committed)
      throw new Error(
        `docs/results/fedau.md differs from the rendering at ${firstDifference(markdown, committed)}\nRun \`npm run reproduce:fedau -- --render-only\`.`,
      );
  });

  it.each(Object.keys(svgs))('%s', (file) => {
    expect(svgs[file]).toBe(readFileSync(path.join(DIR, file), 'utf8'));
  });
});
