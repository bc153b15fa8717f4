import { z } from 'zod';
import { int4, perDataset, Sha256Schema } from './common';
import { AgentBackendSchema, AgentDeviceSchema, AgentLabelsSchema, type AgentBackend, type AgentLabels } from './placement';

/**
 * The agent protocol this build speaks. An agent sends it when it registers; a coordinator that speaks another
 * refuses the registration with `incompatible_version` (a definitive answer: the agent stops instead of retrying).
 */
export const AGENT_PROTOCOL_VERSION = 1;

/** An agent secret an agent chose itself: 256 random bits, base64url (43 characters). */
export const AgentSecretSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, '256 random bits in base64url (43 characters)');

export const RegisterAgentSchema = z.strictObject({
  joinToken: z.string().min(1).max(512),
  /**
   * The secret the agent will authenticate with, chosen by the agent (only its hash is stored). It makes registration
   * safe to repeat: a registration whose answer was lost, sent again with the same secret, returns the same agent
   * instead of a second one (and uses the join token once). Without it the coordinator picks the secret.
   */
  agentSecret: AgentSecretSchema.optional(),
  protocolVersion: z.number().int().min(1).max(1000).optional(),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, dash, underscore'),
  datasets: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/))
    .min(1)
    .max(64),
  /** Examples held per dataset, reported for operators; never used for weighting (FedAU weighs clients uniformly). */
  exampleCounts: perDataset(int4()).optional(),
  /** sha256 (hex) of each dataset file: tasks that must see identical data on two agents are matched by it. */
  datasetHashes: perDataset(Sha256Schema).optional(),
  /** The agent's labels (`--label key=value`), matched by jobs' agentSelector; self-declared, so placement only. */
  labels: AgentLabelsSchema.optional(),
  /** The TensorFlow.js backend the agent computes with, matched by jobs' `backend`. */
  backend: AgentBackendSchema.optional(),
  /** What it computes on (CPU model, GPU name), for operators. */
  device: AgentDeviceSchema.optional(),
});
export type RegisterAgent = z.infer<typeof RegisterAgentSchema>;

/** An agent's credentials: `Authorization: Bearer <agentId>.<agentSecret>` on every call (see {@link agentBearer}). */
export const AgentCredentialsSchema = z.strictObject({
  agentId: z.string().uuid(),
  /** Shown once; the coordinator stores only its hash. */
  agentSecret: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/),
});
export type RegisterAgentResponse = z.infer<typeof AgentCredentialsSchema>;

/**
 * POST /agents/me/secret: a new secret for the calling agent; the old one stops working at once. The agent may choose
 * it (then a rotation whose answer was lost is recognised: the agent tries the new secret); else the coordinator does.
 */
export const RotateSecretSchema = z.strictObject({ agentSecret: AgentSecretSchema.optional() });
export type RotateSecret = z.infer<typeof RotateSecretSchema>;
export type RotateSecretResponse = RegisterAgentResponse;

/** What an agent's HTTP client has seen since it started: calls it retried, and calls that failed after retrying. */
export const NetworkStatsSchema = z.strictObject({
  retries: z.number().int().min(0).max(2_147_483_647),
  failures: z.number().int().min(0).max(2_147_483_647),
});
export type NetworkStats = z.infer<typeof NetworkStatsSchema>;

/** GET /agents/me/work: how long the coordinator may hold the request open when there is no work (long poll). */
export const WorkQuerySchema = z.strictObject({
  waitMs: z.coerce.number().int().min(0).max(30_000).default(25_000),
});
export type WorkQuery = z.infer<typeof WorkQuerySchema>;

export const HeartbeatSchema = z.strictObject({
  status: z.enum(['idle', 'busy']).default('idle'),
  /** Sent when an agent rejoins with a stored identity: its dataset files may have changed since it registered. */
  datasetHashes: perDataset(Sha256Schema).optional(),
  /** The agent's retry counters since it started (sent when they changed), shown to operators. */
  network: NetworkStatsSchema.optional(),
  /**
   * Sent when an agent rejoins with a stored identity, with `backend` and `device`: it may have been restarted with
   * other labels or on another machine. Each one sent replaces the stored one.
   */
  labels: AgentLabelsSchema.optional(),
  backend: AgentBackendSchema.optional(),
  device: AgentDeviceSchema.optional(),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

export interface AgentView {
  id: string;
  name: string;
  datasets: string[];
  online: boolean;
  lastHeartbeatAt: string | null;
  /** When a task last timed out on the agent; while it is later than lastHeartbeatAt, other agents get tasks first. */
  lastTaskTimeoutAt: string | null;
  /** When an admin revoked the agent (DELETE /agents/:id): its credentials no longer work; its history stays. */
  revokedAt: string | null;
  /** The agent's last reported network counters (null until it reports one: agents report after a retry). */
  network: (NetworkStats & { reportedAt: string }) | null;
  /**
   * The last error the agent reported: a round it could not train (a decline with reason `error`) or a task it could
   * not compute (a task failure), with what it was doing; null until it reports one.
   */
  lastError: { message: string; at: string } | null;
  /** When the agent said it was leaving (POST /agents/me/leave); it is offline from then until it rejoins. */
  leftAt: string | null;
  /** Its labels as it last declared them ({} without any). */
  labels: AgentLabels;
  /** The TensorFlow.js backend it last reported (null: an agent that reported none). */
  backend: AgentBackend | null;
  /** What it computes on, as it last reported it (null: not reported). */
  device: string | null;
  /**
   * Rounds of federated jobs (all jobs, closed rounds) it was eligible for, and those it took part in (a clipped
   * update counts; a rejected one does not): its observed participation rate is participated / eligible.
   */
  participation: AgentParticipation;
  createdAt: string;
}

/** An agent's closed federated rounds: eligible for, and taken part in. */
export interface AgentParticipation {
  eligible: number;
  participated: number;
}

/** Authorization header an agent sends: `Bearer <agentId>.<agentSecret>`. */
export function agentBearer(agentId: string, secret: string): string {
  return `Bearer ${agentId}.${secret}`;
}
