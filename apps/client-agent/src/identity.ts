import type { RegisterAgentResponse } from '@flotilla/contracts';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

/**
 * What an agent keeps between runs so that a restart (crash, reboot, upgrade) rejoins as the SAME
 * client: FedAU estimates each client's participation from its history, and a fresh id would start
 * that history over. The secret is stored only here (mode 0600) and hashed at the coordinator.
 */
// Not strict: files written by earlier versions also hold the agent's queue name and prefix, which are ignored now.
const IdentitySchema = z.object({
  coordinatorUrl: z.string().min(1),
  agentId: z.string().uuid(),
  agentSecret: z.string().min(16),
});
export type AgentIdentity = z.infer<typeof IdentitySchema>;

/**
 * Reads an identity file. Returns undefined when the file does not exist or belongs to another
 * coordinator; throws with the file name when it exists but is not a valid identity.
 */
export function readIdentity(file: string, coordinatorUrl: string): AgentIdentity | undefined {
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`identity file ${file} is not JSON: ${(e as Error).message}`);
  }
  const result = IdentitySchema.safeParse(parsed);
  if (!result.success)
    throw new Error(
      `identity file ${file} is invalid: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  return normalise(result.data.coordinatorUrl) === normalise(coordinatorUrl) ? result.data : undefined;
}

/** Writes the identity atomically (temp file + rename), readable by the owner only. */
export function writeIdentity(file: string, coordinatorUrl: string, reg: RegisterAgentResponse): AgentIdentity {
  const identity: AgentIdentity = { coordinatorUrl, agentId: reg.agentId, agentSecret: reg.agentSecret };
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(identity, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return identity;
}

function normalise(url: string): string {
  return url.replace(/\/+$/, '');
}
