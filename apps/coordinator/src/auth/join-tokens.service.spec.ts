import { Logger } from '@nestjs/common';
import type { JoinToken } from '@prisma/client';
import { UnauthorizedError, ValidationError } from '../common/errors';
import { loadConfig, type AppConfig } from '../config/config';
import { JoinTokensRepository } from './join-tokens.repository';
import { JoinTokensService } from './join-tokens.service';

/** The repository in memory, with the same rule for a use as its conditional UPDATE. */
class MemoryJoinTokens extends JoinTokensRepository {
  readonly rows = new Map<string, JoinToken>();

  constructor() {
    super(undefined as never);
  }

  override create(data: { id: string; label: string; secretHash: string; expiresAt: Date | null; maxUses: number | null }) {
    const row: JoinToken = { ...data, uses: 0, revokedAt: null, lastUsedAt: null, createdAt: new Date(0) };
    this.rows.set(row.id, row);
    return Promise.resolve({ ...row });
  }
  override list() {
    return Promise.resolve([...this.rows.values()].map((r) => ({ ...r })));
  }
  override findById(id: string) {
    const row = this.rows.get(id);
    return Promise.resolve(row ? { ...row } : null);
  }
  override consume(id: string, now: Date) {
    const t = this.rows.get(id);
    const ok = !!t && !t.revokedAt && (!t.expiresAt || t.expiresAt > now) && (t.maxUses === null || t.uses < t.maxUses);
    if (ok) Object.assign(t, { uses: t.uses + 1, lastUsedAt: now });
    return Promise.resolve(ok);
  }
  override revoke(id: string, at: Date) {
    const t = this.rows.get(id);
    if (t && !t.revokedAt) t.revokedAt = at;
    return this.findById(id);
  }
}

const BOOTSTRAP = 'bootstrap-join-token-0123456789';
const config = (joinToken?: string): AppConfig =>
  loadConfig({
    DATABASE_URL: 'postgresql://u@h/db',
    REDIS_URL: 'redis://h:6379',
    ADMIN_TOKEN: 'a'.repeat(16),
    ...(joinToken ? { JOIN_TOKEN: joinToken } : {}),
  });
const t0 = new Date('2030-01-01T00:00:00.000Z');
const later = (ms: number) => new Date(t0.getTime() + ms);

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UnauthorizedError);
  return (e as Error).message;
}

describe('join tokens', () => {
  beforeAll(() => {
    Logger.overrideLogger(false); // the services log what they issue and revoke
  });
  let repo: MemoryJoinTokens;
  let service: JoinTokensService;
  beforeEach(() => {
    repo = new MemoryJoinTokens();
    service = new JoinTokensService(repo, config(BOOTSTRAP));
  });

  it('admits the bootstrap JOIN_TOKEN without counting, and nothing that merely looks like it', async () => {
    await service.admit(BOOTSTRAP, t0);
    expect(await refusal(service.admit(`${BOOTSTRAP}x`, t0))).toBe('Invalid join token');
    const without = new JoinTokensService(repo, config());
    expect(await refusal(without.admit(BOOTSTRAP, t0))).toBe('Invalid join token');
  });

  it('shows the token once, stores only the hash of its secret, and counts uses up to maxUses', async () => {
    const issued = await service.create({ label: 'edge fleet', maxUses: 2 }, t0);
    expect(issued.token).toMatch(new RegExp(`^fjt_${issued.id}_[A-Za-z0-9_-]{43}$`));
    const stored = repo.rows.get(issued.id)!;
    expect(stored.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(issued.token.slice(41));
    expect(JSON.stringify(await service.list(t0))).not.toContain(issued.token.slice(41));

    await service.admit(issued.token, t0);
    await service.admit(issued.token, later(1));
    expect(await refusal(service.admit(issued.token, later(2)))).toBe('Join token was used up (2 of 2 uses)');
    expect(await service.list(later(3))).toEqual([
      expect.objectContaining({ id: issued.id, state: 'used-up', uses: 2, maxUses: 2, lastUsedAt: later(1).toISOString() }),
    ]);
  });

  it('refuses an expired token with its expiry time, and refuses to issue one that is already expired', async () => {
    const issued = await service.create({ label: 'one hour', expiresAt: later(3_600_000).toISOString() }, t0);
    await service.admit(issued.token, later(3_599_999));
    expect(await refusal(service.admit(issued.token, later(3_600_000)))).toBe('Join token expired at 2030-01-01T01:00:00.000Z');
    await expect(service.create({ label: 'late', expiresAt: t0.toISOString() }, t0)).rejects.toThrow(ValidationError);
  });

  it('refuses a revoked token; revoking twice keeps the first time', async () => {
    const issued = await service.create({ label: 'lab' }, t0);
    expect((await service.revoke(issued.id, later(5))).state).toBe('revoked');
    expect((await service.revoke(issued.id, later(9))).revokedAt).toBe(later(5).toISOString());
    expect(await refusal(service.admit(issued.token, later(10)))).toBe('Join token was revoked');
  });

  it('checks a token without using it up (an agent reading a dataset shape before it registers)', async () => {
    await service.check(BOOTSTRAP, t0);
    const issued = await service.create({ label: 'once', maxUses: 1 }, t0);
    await service.check(issued.token, t0);
    await service.check(issued.token, t0);
    expect(repo.rows.get(issued.id)!.uses).toBe(0);
    await service.admit(issued.token, t0);
    expect(await refusal(service.check(issued.token, later(1)))).toBe('Join token was used up (1 of 1 uses)');
    expect(await refusal(service.check(`${BOOTSTRAP}x`, t0))).toBe('Invalid join token');
  });

  it('tells why a token admits no one only to whoever holds its secret', async () => {
    const issued = await service.create({ label: 'lab' }, t0);
    await service.revoke(issued.id, t0);
    const forged = `${issued.token.slice(0, -1)}${issued.token.endsWith('A') ? 'B' : 'A'}`;
    expect(await refusal(service.admit(forged, t0))).toBe('Invalid join token');
    expect(await refusal(service.admit(`fjt_00000000-0000-4000-8000-000000000000_${'A'.repeat(43)}`, t0))).toBe('Invalid join token');
    expect(await refusal(service.admit(issued.token.replace('fjt_', 'fak_'), t0))).toBe('Invalid join token');
  });
});
