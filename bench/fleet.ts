/**
 * `npm run bench -- fleet [--agents N] [--rounds R] [--idle-seconds S] [--wait-ms W] [--json]`: the agent transport
 * at fleet size, measured by scripts/fleet.ts (a real coordinator process, PostgreSQL, a private Redis, N simulated
 * agents as HTTP clients). It runs as its own process: it starts and stops services, and its thousands of sockets
 * should not share this one's event loop.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { Bench } from './run';

export const bench: Bench = {
  description: 'agent transport: N simulated agents long-polling over HTTP; delivery latency, coordinator RSS/CPU, heartbeat writes',
  run(args, say) {
    const script = path.resolve(__dirname, '..', '..', 'scripts', 'dist', 'fleet.js');
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
        if (code !== 0) return reject(new Error(`scripts/dist/fleet.js exited with ${code}`));
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? 'null') as unknown);
      });
    });
  },
};
