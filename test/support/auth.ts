import type { CreatedApiKey, CreatedJoinToken, CreateJoinToken, Role } from '@flotilla/contracts';
import { call } from './http';
import { TEST_ADMIN_TOKEN } from './in-process';

/** Issues an API key with `role` through the API (as the bootstrap admin); returns the key. */
export async function issueApiKey(base: string, role: Role, label = `${role} key`): Promise<CreatedApiKey> {
  const r = await call<CreatedApiKey>(base, 'POST', '/api/v1/api-keys', { token: TEST_ADMIN_TOKEN, json: { label, role } });
  if (r.status !== 201) throw new Error(`issuing a ${role} key: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Issues a join token through the API (as the bootstrap admin). */
export async function issueJoinToken(base: string, spec: CreateJoinToken): Promise<CreatedJoinToken> {
  const r = await call<CreatedJoinToken>(base, 'POST', '/api/v1/join-tokens', { token: TEST_ADMIN_TOKEN, json: spec });
  if (r.status !== 201) throw new Error(`issuing a join token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
