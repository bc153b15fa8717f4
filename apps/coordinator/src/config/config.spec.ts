import { ConfigError, loadConfig } from './config';

describe('coordinator config', () => {
  const valid = {
    DATABASE_URL: 'postgresql://u@h:5432/db',
    REDIS_URL: 'redis://h:6379',
    ADMIN_TOKEN: 'a'.repeat(16),
    JOIN_TOKEN: 'j'.repeat(16),
  };

  it('applies defaults and coerces numbers', () => {
    const c = loadConfig({ ...valid, PORT: '9000' });
    expect(c.PORT).toBe(9000);
    expect(c.MIGRATE_ON_START).toBe(true);
    expect(c.BLOB_DIR).toBe('.flotilla/blobs');
    expect([c.MAX_JSON_BYTES, c.MAX_TASK_RESULT_BYTES, c.MAX_UPDATE_BYTES]).toEqual([2 ** 20, 16 * 2 ** 20, 256 * 2 ** 20]);
    expect([c.AGENT_MAX_TRANSFERS, c.AGENT_BLOB_QUOTA_BYTES, c.AGENT_BLOB_QUOTA_COUNT]).toEqual([4, 2 ** 30, 32]);
  });

  it('takes blobs to S3 only with a bucket, and credentials in pairs, without echoing a secret', () => {
    expect(loadConfig(valid).BLOB_STORE).toBe('fs');
    expect(() => loadConfig({ ...valid, BLOB_STORE: 's3' })).toThrow(/S3_BUCKET: required with BLOB_STORE=s3/);
    expect(() => loadConfig({ ...valid, BLOB_STORE: 'gcs' })).toThrow(/BLOB_STORE/);
    const secret = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
    let message = '';
    try {
      loadConfig({ ...valid, BLOB_STORE: 's3', S3_BUCKET: 'models', S3_SECRET_ACCESS_KEY: secret });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY: set both or neither/);
    expect(message).not.toContain(secret);
    expect(() => loadConfig({ ...valid, BLOB_STORE: 's3', S3_BUCKET: 'models', S3_PREFIX: '/abs' })).toThrow(/S3_PREFIX/);
    expect(() => loadConfig({ ...valid, S3_PRESIGNED_DOWNLOADS: 'true' })).toThrow(/S3_PRESIGNED_DOWNLOADS: needs BLOB_STORE=s3/);
    const c = loadConfig({ ...valid, BLOB_STORE: 's3', S3_BUCKET: 'models', S3_PREFIX: 'fl/', S3_FORCE_PATH_STYLE: 'true' });
    expect([c.S3_BUCKET, c.S3_PREFIX, c.S3_FORCE_PATH_STYLE, c.S3_REGION]).toEqual(['models', 'fl/', true, 'us-east-1']);
  });

  it('bounds MAX_UPDATE_BYTES to what one Buffer and an int4 byte count hold', () => {
    expect(() => loadConfig({ ...valid, MAX_UPDATE_BYTES: String(2 ** 31) })).toThrow(/MAX_UPDATE_BYTES/);
    expect(loadConfig({ ...valid, MAX_UPDATE_BYTES: String(2 ** 31 - 1) }).MAX_UPDATE_BYTES).toBe(2 ** 31 - 1);
  });

  it('lists every problem at once and never defaults a secret', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ DATABASE_URL: 'mysql://x', PORT: 'eighty' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const fields = error!.problems.map((p) => p.split(':')[0]);
    expect(fields.sort()).toEqual(['ADMIN_TOKEN', 'DATABASE_URL', 'PORT', 'REDIS_URL']);
    expect(() => loadConfig({ ...valid, ADMIN_TOKEN: 'short' })).toThrow(/ADMIN_TOKEN: must be at least 16/);
  });

  it('takes JOIN_TOKEN as an optional bootstrap join token, still at least 16 characters when given', () => {
    const { JOIN_TOKEN: _omitted, ...withoutJoinToken } = valid;
    expect(loadConfig(withoutJoinToken).JOIN_TOKEN).toBeUndefined();
    expect(loadConfig(valid).JOIN_TOKEN).toBe('j'.repeat(16));
    expect(() => loadConfig({ ...valid, JOIN_TOKEN: 'short' })).toThrow(/JOIN_TOKEN: must be at least 16/);
    expect(() => loadConfig({ ...valid, JOIN_TOKEN: '' })).toThrow(/JOIN_TOKEN: must be at least 16/);
  });
});
