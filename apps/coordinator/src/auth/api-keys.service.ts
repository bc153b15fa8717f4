import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  rolesAtLeast,
  ROLES,
  type ApiKeyView,
  type CreateApiKey,
  type CreatedApiKey,
  type Principal,
  type Role,
} from '@flotilla/contracts';
import type { ApiKey } from '@prisma/client';
import { safeEqual } from '../common/bearer';
import { ForbiddenError, NotFoundError, UnauthorizedError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { ApiKeysRepository } from './api-keys.repository';
import { API_KEY_PREFIX, hashSecret, issueCredential, parseCredential } from './credentials';

/** The bootstrap key: ADMIN_TOKEN from the environment, an admin that cannot be revoked through the API. */
export const BOOTSTRAP_ADMIN: Principal = { role: 'admin', label: 'ADMIN_TOKEN (bootstrap)', keyId: null };

/** Throws 403 unless `principal` has `role` or a higher one; the message names both. */
export function authorize(principal: Principal, role: Role): void {
  if (ROLES.indexOf(principal.role) >= ROLES.indexOf(role)) return;
  throw new ForbiddenError(`Needs role ${rolesAtLeast(role).join(' or ')}; this key is a ${principal.role}`, {
    needed: role,
    role: principal.role,
  });
}

export function apiKeyView(k: ApiKey): ApiKeyView {
  return { id: k.id, label: k.label, role: k.role, revokedAt: k.revokedAt?.toISOString() ?? null, createdAt: k.createdAt.toISOString() };
}

/** API keys for people and scripts, with a role each; and the bootstrap ADMIN_TOKEN. */
@Injectable()
export class ApiKeysService {
  private readonly logger = new Logger('ApiKeys');

  constructor(
    private readonly keys: ApiKeysRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(input: CreateApiKey): Promise<CreatedApiKey> {
    const issued = issueCredential(API_KEY_PREFIX);
    const row = await this.keys.create({ id: issued.id, label: input.label, role: input.role, secretHash: issued.secretHash });
    this.logger.log(`API key ${row.id} (${JSON.stringify(row.label)}, ${row.role}) issued`);
    return { ...apiKeyView(row), key: issued.token };
  }

  async list(): Promise<ApiKeyView[]> {
    return (await this.keys.list()).map(apiKeyView);
  }

  async revoke(id: string, now = new Date()): Promise<ApiKeyView> {
    const row = await this.keys.revoke(id, now);
    if (!row) throw new NotFoundError(`API key ${id} not found`);
    this.logger.log(`API key ${row.id} (${JSON.stringify(row.label)}, ${row.role}) revoked`);
    return apiKeyView(row);
  }

  /** Who presents `token` (the bearer token of a request), or 401. */
  async authenticate(token: string | null): Promise<Principal> {
    if (!token) throw new UnauthorizedError('Missing bearer token (Authorization: Bearer <API key>)');
    if (safeEqual(token, this.config.ADMIN_TOKEN)) return BOOTSTRAP_ADMIN;
    const parsed = parseCredential(API_KEY_PREFIX, token);
    const row = parsed && (await this.keys.findById(parsed.id));
    if (!parsed || !row || !safeEqual(row.secretHash, hashSecret(parsed.secret))) throw new UnauthorizedError('Invalid API key');
    if (row.revokedAt) throw new UnauthorizedError('API key was revoked');
    return { role: row.role, label: row.label, keyId: row.id };
  }
}
