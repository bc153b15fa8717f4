import { Inject, Injectable, Logger } from '@nestjs/common';
import type { CreatedJoinToken, CreateJoinToken, JoinTokenState, JoinTokenView } from '@flotilla/contracts';
import type { JoinToken } from '@prisma/client';
import { safeEqual } from '../common/bearer';
import { NotFoundError, UnauthorizedError, ValidationError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { hashSecret, issueCredential, JOIN_TOKEN_PREFIX, parseCredential } from './credentials';
import { JoinTokensRepository } from './join-tokens.repository';

/** Why a token admits no agent at `now` (revoked, then expired, then used up), or 'active'. */
export function joinTokenState(t: JoinToken, now: Date): JoinTokenState {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && t.expiresAt.getTime() <= now.getTime()) return 'expired';
  if (t.maxUses !== null && t.uses >= t.maxUses) return 'used-up';
  return 'active';
}

/** The 401 message for a token in that state, which tells the operator what to do about it. */
export function refusal(t: JoinToken, now: Date): string {
  const state = joinTokenState(t, now);
  switch (state) {
    case 'revoked':
      return 'Join token was revoked';
    case 'expired':
      return `Join token expired at ${t.expiresAt!.toISOString()}`;
    case 'used-up':
      return `Join token was used up (${t.uses} of ${t.maxUses} uses)`;
    case 'active':
      return 'Invalid join token';
  }
}

export function joinTokenView(t: JoinToken, now: Date): JoinTokenView {
  return {
    id: t.id,
    label: t.label,
    state: joinTokenState(t, now),
    uses: t.uses,
    maxUses: t.maxUses,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    createdAt: t.createdAt.toISOString(),
  };
}

/**
 * Who may register an agent: the bootstrap JOIN_TOKEN (when configured; it never expires) or a join token issued
 * here, which may expire, run out of uses or be revoked.
 */
@Injectable()
export class JoinTokensService {
  private readonly logger = new Logger('JoinTokens');

  constructor(
    private readonly tokens: JoinTokensRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(input: CreateJoinToken, now = new Date()): Promise<CreatedJoinToken> {
    const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
    if (expiresAt && expiresAt.getTime() <= now.getTime()) {
      throw new ValidationError(`expiresAt ${expiresAt.toISOString()} is not in the future`);
    }
    const issued = issueCredential(JOIN_TOKEN_PREFIX);
    const row = await this.tokens.create({
      id: issued.id,
      label: input.label,
      secretHash: issued.secretHash,
      expiresAt,
      maxUses: input.maxUses ?? null,
    });
    this.logger.log(`join token ${row.id} (${JSON.stringify(row.label)}) issued`);
    return { ...joinTokenView(row, now), token: issued.token };
  }

  async list(now = new Date()): Promise<JoinTokenView[]> {
    return (await this.tokens.list()).map((t) => joinTokenView(t, now));
  }

  async revoke(id: string, now = new Date()): Promise<JoinTokenView> {
    const row = await this.tokens.revoke(id, now);
    if (!row) throw new NotFoundError(`Join token ${id} not found`);
    this.logger.log(`join token ${row.id} (${JSON.stringify(row.label)}) revoked`);
    return joinTokenView(row, now);
  }

  /**
   * Admits one registration with `token`, counting a use of an issued token, or throws 401. Only a caller holding a
   * token's secret learns why it no longer admits anyone; anything else is "Invalid join token".
   */
  async admit(token: string, now = new Date()): Promise<void> {
    const row = await this.verify(token);
    if (!row || (await this.tokens.consume(row.id, now))) return;
    throw new UnauthorizedError(refusal((await this.tokens.findById(row.id)) ?? row, now));
  }

  /**
   * Throws 401 unless `token` would admit a registration now, without using it up (an agent reading what its file
   * must look like before it registers); the same refusals as {@link admit}.
   */
  async check(token: string, now = new Date()): Promise<void> {
    const row = await this.verify(token);
    if (row && joinTokenState(row, now) !== 'active') throw new UnauthorizedError(refusal(row, now));
  }

  /** The issued token's row when its secret matches, null for the bootstrap JOIN_TOKEN; 401 for anything else. */
  private async verify(token: string): Promise<JoinToken | null> {
    const bootstrap = this.config.JOIN_TOKEN;
    if (bootstrap !== undefined && safeEqual(token, bootstrap)) return null;
    const parsed = parseCredential(JOIN_TOKEN_PREFIX, token);
    const row = parsed && (await this.tokens.findById(parsed.id));
    if (!parsed || !row || !safeEqual(row.secretHash, hashSecret(parsed.secret))) throw new UnauthorizedError('Invalid join token');
    return row;
  }
}
