import { createHash, randomBytes, randomUUID } from 'node:crypto';

/**
 * Join tokens and API keys issued by the API read `<prefix>_<id>_<secret>`: the id is the row's primary key (so a
 * token is looked up, never searched for), the secret 256 random bits in base64url. Only the secret's sha256 is
 * stored: with 256 random bits a plain hash is as good as a stretched one.
 */
export const JOIN_TOKEN_PREFIX = 'fjt';
export const API_KEY_PREFIX = 'fak';
export type CredentialPrefix = typeof JOIN_TOKEN_PREFIX | typeof API_KEY_PREFIX;

export interface IssuedCredential {
  id: string;
  /** What the holder presents; shown once. */
  token: string;
  /** What is stored. */
  secretHash: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function issueCredential(prefix: CredentialPrefix): IssuedCredential {
  const id = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `${prefix}_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The id and secret of a token of this kind, or null when it is not one (the uuid has a fixed length). */
export function parseCredential(prefix: CredentialPrefix, token: string): { id: string; secret: string } | null {
  const m = new RegExp(`^${prefix}_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_([A-Za-z0-9_-]{43})$`).exec(token);
  return m ? { id: m[1], secret: m[2] } : null;
}
