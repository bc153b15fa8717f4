import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import {
  AGENT_PROTOCOL_VERSION,
  AgentBackendSchema,
  type AgentBackend,
  type AgentLabels,
  type AgentParticipation,
  type AgentView,
  type NetworkStats,
  type RegisterAgent,
  type RegisterAgentResponse,
  type Page,
} from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import { createHash, randomBytes } from 'node:crypto';
import { JoinTokensService } from '../auth/join-tokens.service';
import { safeEqual } from '../common/bearer';
import { BatchLoader } from '../common/batcher';
import { ConflictError, IncompatibleVersionError, NotFoundError, UnauthorizedError, ValidationError } from '../common/errors';
import { RateLimiter } from '../common/rate-limiter';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DatasetCatalog, unknownDataset } from '../datasets/dataset-catalog';
import { QueueService } from '../queue/queue.service';
import { AgentsRepository } from './agents.repository';
import { agentLabels } from './eligibility.service';

/** Agent secrets are 256 random bits, so a plain sha256 is a sufficient one-way store (no password stretching needed). */
function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * How long a verified agent is trusted without reading its row again (a revocation or rotation clears it at once),
 * spread by up to a fifth more per entry so that a fleet verified together is not read again all at once.
 */
const AUTH_CACHE_MS = 30_000;
const AUTH_CACHE_SIZE = 20_000;

/**
 * Agents: registration with a join token, authentication of every agent call (`Bearer <agentId>.<secret>`), and
 * what admins do to them (list, revoke) or they do to themselves (rotate the secret). Verified agents are cached for
 * a short while so that thousands of polling agents cost no database read per call; a revocation or rotation on
 * any coordinator process clears the entry everywhere (the `agents` channel) before its response is sent.
 */
@Injectable()
export class AgentsService implements OnModuleInit {
  private readonly logger = new Logger(AgentsService.name);
  private readonly verified = new Map<string, { agent: Agent; secretHash: string; until: number }>();
  private readonly goneListeners: { name: string; run: (agentId: string, why: AgentGone) => Promise<void> }[] = [];
  private readonly registrations: RateLimiter;
  /** Agent rows read for authentication, many per query (a fleet reconnecting at once). */
  private readonly rows: BatchLoader<string, Agent>;

  constructor(
    private readonly agents: AgentsRepository,
    private readonly queues: QueueService,
    private readonly joinTokens: JoinTokensService,
    private readonly catalog: DatasetCatalog,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.registrations = new RateLimiter(config.REGISTER_RATE_PER_MINUTE / 60, config.REGISTER_RATE_PER_MINUTE, 10_000);
    this.rows = new BatchLoader((ids) => this.agents.findByIds(ids));
  }

  onModuleInit(): void {
    this.queues.subscribe('agents', (agentId) => this.verified.delete(agentId));
  }

  /**
   * A new agent, if the join token admits it (the bootstrap JOIN_TOKEN, or one issued through the API: not expired,
   * used up or revoked); at most REGISTER_RATE_PER_MINUTE registrations per source address. An agent that chose its
   * secret and sends the same registration again (its first answer was lost) gets the agent the first one created,
   * without using the join token again: knowing the secret proves it is that agent. A dataset the catalogue does not
   * have is a 400 that names it and the known ones (only to a caller whose join token admits it, before the token
   * is used).
   */
  async register(input: RegisterAgent, source: string): Promise<RegisterAgentResponse> {
    this.registrations.take(source, 'registrations from this address');
    if (input.protocolVersion !== undefined && input.protocolVersion !== AGENT_PROTOCOL_VERSION) {
      throw new IncompatibleVersionError(
        `This coordinator speaks agent protocol ${AGENT_PROTOCOL_VERSION}; the agent speaks ${input.protocolVersion}: install a matching agent`,
      );
    }
    const secret = input.agentSecret ?? newSecret();
    const secretHash = hashSecret(secret);
    if (input.agentSecret) {
      const repeated = await this.registered(secretHash);
      if (repeated) return { agentId: repeated.id, agentSecret: secret };
    }
    await this.joinTokens.check(input.joinToken);
    const known = this.catalog.names();
    const unknown = input.datasets.filter((d) => !known.includes(d));
    if (unknown.length) {
      throw new ValidationError(unknownDataset(unknown[0], known), {
        fields: unknown.map((d) => ({ field: 'datasets', message: `unknown dataset '${d}'` })),
      });
    }
    await this.joinTokens.admit(input.joinToken);
    let agent: Agent;
    try {
      agent = await this.agents.create({
        name: input.name,
        secretHash,
        datasets: input.datasets,
        ...(input.exampleCounts ? { exampleCounts: input.exampleCounts } : {}),
        ...(input.datasetHashes ? { datasetHashes: input.datasetHashes } : {}),
        ...(input.labels ? { labels: input.labels } : {}),
        ...(input.backend ? { backend: input.backend } : {}),
        ...(input.device ? { device: input.device } : {}),
      });
    } catch (e) {
      // The same registration raced in on two connections: the other request created the agent.
      const repeated = input.agentSecret ? await this.registered(secretHash) : null;
      if (!repeated) throw e;
      return { agentId: repeated.id, agentSecret: secret };
    }
    this.logger.log(`agent ${agent.id} (${agent.name}) registered for ${agent.datasets.join(', ')}`);
    return { agentId: agent.id, agentSecret: secret };
  }

  /** The agent holding this secret, for a repeated registration; a revoked one is refused (401) rather than revived. */
  private async registered(secretHash: string): Promise<Agent | null> {
    const agent = await this.agents.findBySecretHash(secretHash);
    if (agent?.revokedAt) throw new UnauthorizedError(`Agent ${agent.id} was revoked at ${agent.revokedAt.toISOString()}`);
    return agent;
  }

  /** Resolves `Bearer <agentId>.<secret>` to the agent, or throws 401 (unknown, wrong secret, revoked). */
  async authenticate(token: string | null): Promise<Agent> {
    const m = token ? /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{16,128})$/.exec(token) : null;
    if (!m) throw new UnauthorizedError('Missing or malformed agent credentials (expected Bearer <agentId>.<secret>)');
    const [, id, secret] = m;
    const hash = hashSecret(secret);
    const cached = this.verified.get(id);
    if (cached && cached.until > Date.now() && safeEqual(cached.secretHash, hash)) return cached.agent;
    const agent = await this.rows.load(id);
    if (!agent || !safeEqual(agent.secretHash, hash)) throw new UnauthorizedError('Invalid agent credentials');
    if (agent.revokedAt) throw new UnauthorizedError(`Agent ${id} was revoked at ${agent.revokedAt.toISOString()}`);
    if (this.verified.size >= AUTH_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(id, { agent, secretHash: hash, until: Date.now() + AUTH_CACHE_MS * (1 + 0.2 * Math.random()) });
    return agent;
  }

  /** A rejoining agent re-reports its datasets' hashes (its files may have changed since it registered). */
  async rejoined(agentId: string, datasetHashes: Record<string, string>): Promise<void> {
    await this.agents.rejoined(agentId, datasetHashes);
  }

  /**
   * Revokes an agent: its credentials stop working at once on every coordinator process (an open poll gets 401), the
   * work waiting for it is dropped, and the job kinds let go of what it holds (its tasks go to other agents, open rounds
   * stop waiting for it). Its participation history stays.
   */
  async revoke(agentId: string): Promise<AgentView> {
    const agent = await this.agents.findById(agentId);
    if (!agent) throw new NotFoundError(`Agent ${agentId} not found`);
    if (!(await this.agents.revoke(agentId))) throw new ConflictError(`Agent ${agentId} was already revoked`);
    await this.forget(agentId);
    await this.letGo(agentId, 'revoked');
    this.logger.log(`agent ${agentId} (${agent.name}) revoked`);
    return (await this.views([(await this.agents.findById(agentId))!]))[0];
  }

  /**
   * The agent says it is leaving (it was stopped): it is offline at once, and what it holds is let go as for a
   * revocation — the work waiting for it is dropped, open rounds it was asked in stop waiting for it, its running
   * tasks go to other agents — but its credentials keep working, so it may rejoin later as the same client. A repeat
   * does the same again (nothing is left to let go).
   */
  async leave(agentId: string): Promise<AgentView> {
    if (!(await this.agents.leave(agentId))) throw new UnauthorizedError(`Agent ${agentId} was revoked`);
    await this.letGo(agentId, 'left');
    const agent = (await this.agents.findById(agentId))!;
    this.logger.log(`agent ${agentId} (${agent.name}) left`);
    return (await this.views([agent]))[0];
  }

  /** Drops the work waiting for a revoked or departed agent and lets the job kinds and tasks let go of what it holds. */
  private async letGo(agentId: string, why: AgentGone): Promise<void> {
    await this.queues.removeAgentWork(agentId);
    for (const l of this.goneListeners) {
      await l
        .run(agentId, why)
        .catch((e: Error) =>
          this.logger.error(`after agent ${agentId} ${why === 'revoked' ? 'was revoked' : 'left'}, ${l.name} failed: ${e.message}`),
        );
    }
  }

  /**
   * A new secret for the calling agent (its own choice, or one picked here); the old one stops working at once. An
   * agent whose answer was lost knows the rotation happened when the new secret works.
   */
  async rotateSecret(agentId: string, chosen?: string): Promise<RegisterAgentResponse> {
    const secret = chosen ?? newSecret();
    if (!(await this.agents.setSecret(agentId, hashSecret(secret)))) throw new UnauthorizedError(`Agent ${agentId} was revoked`);
    await this.forget(agentId);
    return { agentId, agentSecret: secret };
  }

  /** The labels, backend and device a rejoining agent reports (it may run with other labels or elsewhere now). */
  async describe(agentId: string, report: { labels?: AgentLabels; backend?: AgentBackend; device?: string }): Promise<void> {
    await this.agents.describe(agentId, report);
  }

  /** The agent's network counters, as its heartbeat reports them (it sends them when they changed). */
  async reportNetwork(agentId: string, stats: NetworkStats): Promise<void> {
    await this.agents.reportNetwork(agentId, stats);
  }

  /**
   * What a job kind or the task dispatcher must do when an agent is gone — revoked, or left — and will not answer what
   * it holds (registered at module init).
   */
  onGone(name: string, run: (agentId: string, why: AgentGone) => Promise<void>): void {
    this.goneListeners.push({ name, run });
  }

  /** One page of the agents (GET /agents), and how many there are in all. */
  async list(page: Page): Promise<{ items: AgentView[]; total: number }> {
    const { items, total } = await this.agents.list(page);
    return { items: await this.views(items), total };
  }

  /** Drops the agent's verified entry here and, through the `agents` channel, on every other process. */
  private async forget(agentId: string): Promise<void> {
    this.verified.delete(agentId);
    await this.queues.publish('agents', agentId);
  }

  private async views(agents: Agent[]): Promise<AgentView[]> {
    const participation = await this.agents.participation(agents.map((a) => a.id));
    return agents.map((a) => this.view(a, participation.get(a.id) ?? { eligible: 0, participated: 0 }));
  }

  private view(a: Agent, participation: AgentParticipation): AgentView {
    const since = Date.now() - this.config.AGENT_OFFLINE_AFTER_MS;
    return {
      id: a.id,
      name: a.name,
      datasets: a.datasets,
      online: a.revokedAt === null && a.leftAt === null && a.lastHeartbeatAt !== null && a.lastHeartbeatAt.getTime() >= since,
      lastHeartbeatAt: a.lastHeartbeatAt?.toISOString() ?? null,
      lastTaskTimeoutAt: a.lastTaskTimeoutAt?.toISOString() ?? null,
      revokedAt: a.revokedAt?.toISOString() ?? null,
      network:
        a.netReportedAt && a.netRetries !== null && a.netFailures !== null
          ? { retries: a.netRetries, failures: a.netFailures, reportedAt: a.netReportedAt.toISOString() }
          : null,
      lastError: a.lastError !== null && a.lastErrorAt ? { message: a.lastError, at: a.lastErrorAt.toISOString() } : null,
      leftAt: a.leftAt?.toISOString() ?? null,
      labels: agentLabels(a),
      backend: AgentBackendSchema.safeParse(a.backend).data ?? null,
      device: a.device,
      participation,
      createdAt: a.createdAt.toISOString(),
    };
  }
}

/** Why an agent will not answer what it holds: an admin revoked it, or it said it was leaving. */
export type AgentGone = 'revoked' | 'left';

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}
