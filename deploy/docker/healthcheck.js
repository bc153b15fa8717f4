// Docker HEALTHCHECK of the image: in a coordinator container, GET /health on this container's port (200 only when
// PostgreSQL and Redis answer); in any other container (agent, migrate) there is nothing to check, so it passes.
'use strict';
const { readdirSync, readFileSync } = require('node:fs');

function runsCoordinator() {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let args;
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // the process ended meanwhile
    }
    if (args.some((a) => a.endsWith('apps/coordinator/dist/main.js')) && !args.includes('migrate')) return true;
  }
  return false;
}

if (!runsCoordinator()) process.exit(0);
const tls = Boolean(process.env.TLS_CERT_FILE);
const { request } = require(tls ? 'node:https' : 'node:http');
// The certificate names the public host, not 127.0.0.1: this check is about the process, not the certificate.
const req = request(
  { host: '127.0.0.1', port: Number(process.env.PORT || 8080), path: '/health', timeout: 4000, rejectUnauthorized: false },
  (res) => {
    res.resume();
    process.exit(res.statusCode === 200 ? 0 : 1);
  },
);
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
req.end();
