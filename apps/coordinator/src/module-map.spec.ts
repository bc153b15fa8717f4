import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The coordinator's folders import in one direction: a folder may import only folders of a lower layer (the module
 * map in ARCHITECTURE.md). A new folder must be placed here; a cycle, or a kind importing another kind, fails.
 */
const LAYERS: string[][] = [
  ['config'],
  ['common', 'database'],
  ['auth'],
  ['queue', 'datasets'],
  ['agents', 'control'],
  ['blobs', 'transport'],
  ['jobs'],
  ['tasks'],
  ['kinds/federated', 'kinds/nas', 'kinds/bilevel'],
  ['health', 'dashboard'],
  ['.'],
];
const ROOT = __dirname;
/** Fakes and fixtures of the unit specs: test support, not a layer (not built; a production file importing it fails below). */
const TEST_SUPPORT = path.join(ROOT, 'testing');

/** The folder a source file belongs to: its top folder, or kinds/<kind>; '.' for the files at the root. */
function folderOf(file: string): string {
  const parts = path.relative(ROOT, file).split(path.sep);
  if (parts.length === 1) return '.';
  return parts[0] === 'kinds' ? `kinds/${parts[1]}` : parts[0];
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (p === TEST_SUPPORT) return [];
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.spec.ts') ? [p] : [];
  });
}

/** folder → the other folders its files import (relative imports only: packages are not folders). */
function folderImports(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const file of sources(ROOT)) {
    const from = folderOf(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']*)'/g)) {
      const to = folderOf(path.resolve(path.dirname(file), m[1]));
      if (to === from) continue;
      if (!out.has(from)) out.set(from, new Set());
      out.get(from)!.add(to);
    }
  }
  return out;
}

describe('coordinator module map (ARCHITECTURE.md)', () => {
  const layer = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));
  const imports = folderImports();

  it('knows every folder of apps/coordinator/src', () => {
    const folders = new Set(sources(ROOT).map(folderOf));
    expect([...folders].filter((f) => !layer.has(f))).toEqual([]);
  });

  it('has every folder import only folders of lower layers (so no cycles, and no kind imports another)', () => {
    const upward: string[] = [];
    for (const [from, tos] of imports) {
      for (const to of tos) if (!(layer.get(to)! < layer.get(from)!)) upward.push(`${from} -> ${to}`);
    }
    expect(upward).toEqual([]);
  });

  it('finds the imports it checks (the scan itself works)', () => {
    expect([...(imports.get('kinds/federated') ?? [])]).toContain('jobs');
    expect([...(imports.get('tasks') ?? [])]).toContain('jobs');
  });
});
