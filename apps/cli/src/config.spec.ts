import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_URL, resolveConnection } from './config';
import { CliError, ExitCode } from './exit-codes';

const KEY = 'fak_00000000-0000-4000-8000-000000000000_secretsecretsecretsecretsecretsecretsecret1';

describe('resolveConnection', () => {
  let home: string;
  let file: string;
  beforeEach(() => {
    home = mkdtempSync(path.join(os.tmpdir(), 'flotilla-cli-config-'));
    file = path.join(home, '.config', 'flotilla', 'config.json');
    mkdirSync(path.dirname(file), { recursive: true });
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const write = (content: unknown, mode: number): void => {
    writeFileSync(file, JSON.stringify(content));
    chmodSync(file, mode);
  };
  const refusal = (fn: () => unknown): CliError => {
    try {
      fn();
    } catch (e) {
      if (e instanceof CliError) return e;
      throw e;
    }
    throw new Error('expected a CliError');
  };

  it('takes flags over the environment over the config file, and defaults the URL', () => {
    write({ url: 'http://file:1', apiKey: 'file-key' }, 0o600);
    const env = { HOME: home };
    expect(resolveConnection({}, env)).toEqual({ url: 'http://file:1', apiKey: 'file-key', keySource: file });
    expect(resolveConnection({}, { ...env, FLOTILLA_URL: 'https://env:2/', FLOTILLA_API_KEY: 'env-key' })).toEqual({
      url: 'https://env:2',
      apiKey: 'env-key',
      keySource: 'FLOTILLA_API_KEY',
    });
    expect(resolveConnection({ url: 'http://flag:3', key: 'flag-key' }, { ...env, FLOTILLA_API_KEY: 'env-key' })).toEqual({
      url: 'http://flag:3',
      apiKey: 'flag-key',
      keySource: '--key',
    });
    rmSync(file);
    expect(resolveConnection({}, env)).toEqual({ url: DEFAULT_URL, apiKey: undefined, keySource: null });
  });

  it('refuses a config file that others may read, says how to fix it, and never shows the key', () => {
    for (const mode of [0o644, 0o640, 0o604]) {
      write({ apiKey: KEY }, mode);
      const e = refusal(() => resolveConnection({}, { HOME: home }));
      expect(e.code).toBe(ExitCode.Usage);
      expect(e.message).toContain(`chmod 600 ${file}`);
      expect(e.message).toContain(`mode 0${mode.toString(8)}`);
      expect(e.message).not.toContain('secretsecret');
    }
    write({ apiKey: KEY }, 0o600);
    expect(resolveConnection({}, { HOME: home }).apiKey).toBe(KEY);
  });

  it('reads $FLOTILLA_CONFIG, refuses a missing one, unknown fields and a non-HTTP URL', () => {
    const other = path.join(home, 'elsewhere.json');
    writeFileSync(other, JSON.stringify({ apiKey: 'k', url: 'http://x:9' }), { mode: 0o600 });
    expect(resolveConnection({}, { HOME: home, FLOTILLA_CONFIG: other })).toMatchObject({ url: 'http://x:9', apiKey: 'k' });
    expect(refusal(() => resolveConnection({}, { HOME: home, FLOTILLA_CONFIG: `${other}.missing` })).message).toMatch(/does not exist/);
    write({ apiKey: 'k', colour: 'red' }, 0o600);
    expect(refusal(() => resolveConnection({}, { HOME: home })).message).toMatch(/unknown field\(s\): colour/);
    expect(refusal(() => resolveConnection({ url: 'ftp://x', key: 'k' }, {})).message).toMatch(/must be http:\/\/ or https:\/\//);
  });

  it('does not read the file when flags and environment name both the URL and the key', () => {
    write({ apiKey: KEY }, 0o644); // would be refused if it were read
    expect(resolveConnection({ key: 'k' }, { HOME: home, FLOTILLA_URL: 'http://e:1' })).toMatchObject({ apiKey: 'k' });
  });
});
