#!/usr/bin/env node
// The `flotilla` command (npx flotilla, npm run flotilla). This file is committed, so that `npm ci` in a fresh clone
// can link it before anything is built; the program itself is apps/cli/dist/main.js, made by `npm run build`.
'use strict';
const path = require('node:path');
const main = path.join(__dirname, '..', 'dist', 'main.js');
try {
  require.resolve(main);
} catch {
  process.stderr.write(`flotilla: ${main} is missing; run \`npm run build\` in the repository first\n`);
  process.exit(2);
}
require(main).cli();
