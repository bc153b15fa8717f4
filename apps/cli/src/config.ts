import { existsSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { usageError } from './exit-codes';

/** Where the CLI talks to, and with which key. The key is never printed, logged or put in an error message. */
export interface Connection {
  /** The coordinator's base URL (no trailing slash), e.g. http://127.0.0.1:8080. */
  url: string;
  apiKey: string | undefined;
  /** Where the key came from, for messages ("--key", "FLOTILLA_API_KEY", a file): never the key. */
  keySource: string | null;
}

/** What the coordinator's address is when nothing names one: the README's `npm run start:coordinator`. */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

const ConfigFileSchema = z.strictObject({
  url: z.string().optional(),
  apiKey: z.string().min(1).optional(),
});

/** $FLOTILLA_CONFIG, or $XDG_CONFIG_HOME/flotilla/config.json, or ~/.config/flotilla/config.json. */
export function configPath(env: NodeJS.ProcessEnv): { file: string; explicit: boolean } {
  if (env.FLOTILLA_CONFIG) return { file: env.FLOTILLA_CONFIG, explicit: true };
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return { file: path.join(base, 'flotilla', 'config.json'), explicit: false };
}

/**
 * Reads the config file, refusing one that others may read: it holds an API key. A missing default file is no
 * config; a missing $FLOTILLA_CONFIG is a usage error (it was named on purpose).
 */
export function readConfigFile(env: NodeJS.ProcessEnv): { file: string; url?: string; apiKey?: string } | null {
  const { file, explicit } = configPath(env);
  if (!existsSync(file)) {
    if (explicit) throw usageError(`FLOTILLA_CONFIG names ${file}, which does not exist`);
    return null;
  }
  const mode = statSync(file).mode & 0o777;
  // Windows has no such permission bits; there the file's ACL is the user's business.
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw usageError(
      `${file} may be read by other users (mode ${mode.toString(8).padStart(4, '0')}) and it holds an API key; ` +
        `make it yours alone with: chmod 600 ${file}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw usageError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  const r = ConfigFileSchema.safeParse(parsed);
  if (!r.success) {
    const problems = r.error.issues.map((i) =>
      i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : `${i.path.join('.') || '(root)'}: ${i.message}`,
    );
    throw usageError(`${file}: ${problems.join('; ')} (expected {"url": "https://…", "apiKey": "fak_…"})`);
  }
  return { file, ...r.data };
}

/** Flags first, then the environment (FLOTILLA_URL, FLOTILLA_API_KEY), then the config file, then the default URL. */
export function resolveConnection(flags: { url?: string; key?: string }, env: NodeJS.ProcessEnv): Connection {
  // The file is read only when flags and environment leave something open, so a file is never needed by them.
  const needFile = !(flags.url || env.FLOTILLA_URL) || !(flags.key || env.FLOTILLA_API_KEY);
  const file = needFile ? readConfigFile(env) : null;
  const url = flags.url ?? (env.FLOTILLA_URL || undefined) ?? file?.url ?? DEFAULT_URL;
  if (!/^https?:\/\/[^/\s]+/.test(url)) throw usageError(`the coordinator URL must be http:// or https://, got '${url}'`);
  let apiKey: string | undefined;
  let keySource: string | null = null;
  if (flags.key) [apiKey, keySource] = [flags.key, '--key'];
  else if (env.FLOTILLA_API_KEY) [apiKey, keySource] = [env.FLOTILLA_API_KEY, 'FLOTILLA_API_KEY'];
  else if (file?.apiKey) [apiKey, keySource] = [file.apiKey, file.file];
  return { url: url.replace(/\/+$/, ''), apiKey, keySource };
}
