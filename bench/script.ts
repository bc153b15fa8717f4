import { spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * Runs scripts/dist/<name>.js as its own process with `--json` (a benchmark that starts and stops services, or holds
 * thousands of sockets, should not share this one's event loop): its stderr lines go to `say`, and the JSON on the
 * last line of its stdout is the result.
 */
export function runScript(name: string, args: string[], say: (line: string) => void): Promise<unknown> {
  const script = path.resolve(__dirname, '..', '..', 'scripts', 'dist', `${name}.js`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    let line = '';
    child.stderr.on('data', (c: Buffer) => {
      line += c.toString();
      const parts = line.split('\n');
      line = parts.pop() ?? '';
      for (const p of parts) say(p);
    });
    child.on('exit', (code) => {
      if (line) say(line);
      if (code !== 0) return reject(new Error(`scripts/dist/${name}.js exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1) ?? 'null') as unknown);
    });
  });
}
