/**
 * docs/results/<name>.md must be exactly what `npm run results -- <name> --render-only` renders from the committed
 * docs/results/<name>.json: a hand edit of the markdown, or a renderer change without re-rendering, fails here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RENDERERS, RESULTS_NAMES } from './results/index';

const DIR = path.resolve(__dirname, '..', 'docs', 'results');

describe('docs/results are renderings of their committed JSON', () => {
  it.each(RESULTS_NAMES)('%s.md = render(%s.json)', (name) => {
    const json = JSON.parse(readFileSync(path.join(DIR, `${name}.json`), 'utf8')) as unknown;
    const rendered = RENDERERS[name](json);
    const committed = readFileSync(path.join(DIR, `${name}.md`), 'utf8');
    if (rendered !== committed) {
      const a = rendered.split('\n');
      const b = committed.split('\n');
      const i = a.findIndex((l, k) => l !== b[k]);
      throw new Error(
        `docs/results/${name}.md differs from the rendering of ${name}.json at line ${i + 1}:\n  rendered:  ${a[i]}\n  committed: ${b[i]}\n` +
          `Run \`npm run results -- ${name} --render-only\` (or the full run) instead of editing the markdown.`,
      );
    }
  });

  it('the renderers are pure: rendering twice gives the same text', () => {
    for (const name of RESULTS_NAMES) {
      const json = JSON.parse(readFileSync(path.join(DIR, `${name}.json`), 'utf8')) as unknown;
      expect(RENDERERS[name](json)).toBe(RENDERERS[name](json));
    }
  });
});
