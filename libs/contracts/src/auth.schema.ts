import { z } from 'zod';
import { safeText } from './common';

/**
 * Access control (README "Access control"): people call the admin API with an API key whose role says what they
 * may do; agents join with a join token and then use their own credentials (agents.schema.ts).
 */

/** Roles from least to most: each may do everything the ones before it may. */
export const ROLES = ['viewer', 'submitter', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** The roles that may call a route needing `role` (that role and every higher one). */
export function rolesAtLeast(role: Role): Role[] {
  return ROLES.slice(ROLES.indexOf(role));
}

/** A human-readable name for a key or token: who holds it, what it is for. */
const LabelSchema = safeText()
  .min(1)
  .max(100)
  .regex(/^[^\p{Cc}]*$/u, 'no control characters');

/** `POST /join-tokens`: a token agents present to register; unlimited and never expiring unless told. */
export const CreateJoinTokenSchema = z.strictObject({
  label: LabelSchema,
  /** ISO 8601 date-time (e.g. `2030-01-01T00:00:00Z`), in the future. */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  /** How many agents may register with it. */
  maxUses: z.number().int().min(1).max(1_000_000).optional(),
});
export type CreateJoinToken = z.infer<typeof CreateJoinTokenSchema>;

export type JoinTokenState = 'active' | 'expired' | 'used-up' | 'revoked';

/** A join token as listed: never its secret. */
export interface JoinTokenView {
  id: string;
  label: string;
  /** What registration with it would do now: `active` admits an agent, the others say why not. */
  state: JoinTokenState;
  uses: number;
  maxUses: number | null;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
}

export interface CreatedJoinToken extends JoinTokenView {
  /** Shown once: `fjt_<id>_<secret>`; the coordinator stores only the secret's sha256. */
  token: string;
}

/** `POST /api-keys`: a key for a person or a script, with the role it acts with. */
export const CreateApiKeySchema = z.strictObject({
  label: LabelSchema,
  role: z.enum(ROLES),
});
export type CreateApiKey = z.infer<typeof CreateApiKeySchema>;

/** An API key as listed: never its secret. */
export interface ApiKeyView {
  id: string;
  label: string;
  role: Role;
  revokedAt: string | null;
  createdAt: string;
}

export interface CreatedApiKey extends ApiKeyView {
  /** Shown once: `fak_<id>_<secret>`; the coordinator stores only the secret's sha256. */
  key: string;
}

/** `GET /auth/me`: who the presented key is. `keyId` is null for the bootstrap ADMIN_TOKEN. */
export interface Principal {
  role: Role;
  label: string;
  keyId: string | null;
}
