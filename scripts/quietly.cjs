#!/usr/bin/env node
// Runs a command and shows its output only when it fails: `npm run demo` (and the other tools that build first) print
// their own lines, not the build's. Usage: node scripts/quietly.cjs "what" command [args...]
'use strict';
const { spawnSync } = require('node:child_process');

const [what, command, ...args] = process.argv.slice(2);
process.stderr.write(`${what}…\n`);
const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
if (run.error || run.status !== 0) {
  process.stderr.write(run.stdout ?? '');
  process.stderr.write(run.stderr ?? '');
  process.stderr.write(`${what} failed${run.error ? `: ${run.error.message}` : ` (exit ${run.status})`}\n`);
  process.exit(run.status || 1);
}
