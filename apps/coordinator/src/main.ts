import { startCoordinator } from './bootstrap';
import { ConfigError, ConfigSchema, loadConfig } from './config/config';
import { migrate } from './database/migrator';

/** `main.js` runs the coordinator; `main.js migrate` only applies the migrations (npm run db:migrate). */
async function main(): Promise<void> {
  if (process.argv[2] === 'migrate') {
    const url = ConfigSchema.shape.DATABASE_URL.safeParse(process.env.DATABASE_URL);
    if (!url.success) fail(new ConfigError([`DATABASE_URL: ${url.error.issues[0]?.message ?? 'missing'}`]));
    const applied = await migrate(url.data);
    process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'database is up to date\n');
    return;
  }
  let config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) fail(e);
    throw e;
  }
  const app = await startCoordinator(config);
  process.stdout.write(`flotilla coordinator listening on ${await app.getUrl()}\n`);
}

function fail(e: ConfigError): never {
  process.stderr.write(`${e.message}\nSee README.md (Configuration) for every variable.\n`);
  process.exit(2);
}

main().catch((e: unknown) => {
  process.stderr.write(`coordinator failed to start: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
