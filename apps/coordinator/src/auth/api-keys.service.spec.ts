import { Logger } from '@nestjs/common';
import type { ApiKey } from '@prisma/client';
import { ForbiddenError, UnauthorizedError } from '../common/errors';
import { loadConfig } from '../config/config';
import { ApiKeysRepository } from './api-keys.repository';
import { ApiKeysService, authorize, BOOTSTRAP_ADMIN } from './api-keys.service';
import { parseCredential } from './credentials';

class MemoryApiKeys extends ApiKeysRepository {
  readonly rows = new Map<string, ApiKey>();

  constructor() {
    super(undefined as never);
  }

  override create(data: Pick<ApiKey, 'id' | 'label' | 'role' | 'secretHash'>) {
    const row: ApiKey = { ...data, revokedAt: null, createdAt: new Date(0) };
    this.rows.set(row.id, row);
    return Promise.resolve({ ...row });
  }
  override list() {
    return Promise.resolve([...this.rows.values()]);
  }
  override findById(id: string) {
    return Promise.resolve(this.rows.get(id) ?? null);
  }
  override revoke(id: string, at: Date) {
    const k = this.rows.get(id);
    if (k && !k.revokedAt) k.revokedAt = at;
    return this.findById(id);
  }
}

const ADMIN_TOKEN = 'bootstrap-admin-token-0123456789';

describe('API keys and roles', () => {
  beforeAll(() => {
    Logger.overrideLogger(false); // the services log what they issue and revoke
  });
  let repo: MemoryApiKeys;
  let service: ApiKeysService;
  beforeEach(() => {
    repo = new MemoryApiKeys();
    service = new ApiKeysService(repo, loadConfig({ DATABASE_URL: 'postgresql://u@h/db', REDIS_URL: 'redis://h:6379', ADMIN_TOKEN }));
  });

  const refused = async (token: string | null, message: string) => {
    await expect(service.authenticate(token)).rejects.toThrow(UnauthorizedError);
    await expect(service.authenticate(token)).rejects.toThrow(message);
  };

  it('knows the bootstrap ADMIN_TOKEN and issued keys; 401 for anything else, and at once after a revocation', async () => {
    expect(await service.authenticate(ADMIN_TOKEN)).toEqual(BOOTSTRAP_ADMIN);
    const issued = await service.create({ label: 'ci bot', role: 'submitter' });
    expect(JSON.stringify(repo.rows.get(issued.id))).not.toContain(parseCredential('fak', issued.key)!.secret);
    expect(await service.authenticate(issued.key)).toEqual({ role: 'submitter', label: 'ci bot', keyId: issued.id });

    await refused(null, 'Missing bearer token');
    await refused(`${ADMIN_TOKEN}x`, 'Invalid API key');
    await refused(
      issued.key.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
      'Invalid API key',
    );
    await refused(issued.key.replace('fak_', 'fjt_'), 'Invalid API key');
    await service.revoke(issued.id);
    await refused(issued.key, 'API key was revoked');
  });

  it('lets a role do what the roles below it may, and names both roles when it refuses', () => {
    const as = (role: 'viewer' | 'submitter' | 'admin') => ({ role, label: role, keyId: null });
    for (const role of ['viewer', 'submitter', 'admin'] as const) expect(() => authorize(as('admin'), role)).not.toThrow();
    expect(() => authorize(as('submitter'), 'submitter')).not.toThrow();
    expect(() => authorize(as('submitter'), 'viewer')).not.toThrow();
    expect(() => authorize(as('viewer'), 'submitter')).toThrow(new ForbiddenError('Needs role submitter or admin; this key is a viewer'));
    expect(() => authorize(as('viewer'), 'admin')).toThrow(new ForbiddenError('Needs role admin; this key is a viewer'));
    expect(() => authorize(as('submitter'), 'admin')).toThrow(new ForbiddenError('Needs role admin; this key is a submitter'));
  });
});
