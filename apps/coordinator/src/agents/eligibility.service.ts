import { Inject, Injectable } from '@nestjs/common';
import {
  AgentLabelsSchema,
  describePlacement,
  isRestricted,
  placementMatches,
  type AgentCensus,
  type Placement,
} from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AgentsRepository } from './agents.repository';

/** Which agents may compute for a job (or one of its tasks). */
export interface AgentRequirement {
  /** Only agents holding this dataset (null: any agent). */
  dataset: string | null;
  /** Only agents whose copy of `dataset` has this sha256 (null or absent: any copy). */
  dataHash?: string | null;
  /** The job's agentSelector and backend. */
  placement: Placement;
}

/** The online agents that hold the data, and those of them the placement admits (both in the repository's stable order). */
export interface Census {
  online: Agent[];
  eligible: Agent[];
}

/** The labels stored on an agent's row ({} when the row holds something else: such an agent matches no selector key). */
export function agentLabels(agent: Pick<Agent, 'labels'>): Record<string, string> {
  const parsed = AgentLabelsSchema.safeParse(agent.labels);
  return parsed.success ? parsed.data : {};
}

/** The sha256 an agent reported for its copy of `dataset`, if any. */
export function agentDataHash(agent: Pick<Agent, 'datasetHashes'>, dataset: string): string | undefined {
  const hashes = agent.datasetHashes as Record<string, string> | null;
  return hashes?.[dataset];
}

/** Whether `agent` (online) may compute under `req`: it holds the data (the required copy) and matches the placement. */
export function isEligible(agent: Agent, req: AgentRequirement): boolean {
  if (req.dataset !== null && !agent.datasets.includes(req.dataset)) return false;
  if (req.dataHash && (req.dataset === null || agentDataHash(agent, req.dataset) !== req.dataHash)) return false;
  return placementMatches({ labels: agentLabels(agent), backend: agent.backend }, req.placement);
}

/**
 * "waiting for agents: …": why a job waits for agents, given how many of `required` its placement admits. Without a
 * selector or backend it reads as it always did (`2 of 3 required agents online for dataset uci-digits`); with one
 * it says what the agents must match and how many online agents hold the data in all.
 */
export function waitingForAgents(req: AgentRequirement, census: AgentCensus, required: number): string {
  const agents = `required agent${required === 1 ? '' : 's'}`;
  const forData = req.dataset === null ? '' : ` for dataset ${req.dataset}`;
  if (!isRestricted(req.placement)) return `waiting for agents: ${census.online} of ${required} ${agents} online${forData}`;
  const inAll = req.dataset === null ? `${census.online} online in all` : `${census.online} online for it in all`;
  return `waiting for agents: ${census.matching} of ${required} ${agents} online match ${describePlacement(req.placement)}${forData} (${inAll})`;
}

/**
 * The one place that decides which agents may compute for a job: online (not revoked, not gone, a heartbeat within
 * AGENT_OFFLINE_AFTER_MS), holding the job's dataset (and, for a task pinned to a file, that copy), and matching the
 * job's agentSelector and backend. A federated round's eligible agents, a task's candidates and the counts of a
 * job's view all come from here.
 */
@Injectable()
export class EligibilityService {
  constructor(
    private readonly agents: AgentsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The agents that may compute under `req` now, in a stable order (creation). */
  async eligible(req: AgentRequirement): Promise<Agent[]> {
    return (await this.census(req)).eligible;
  }

  /** The online agents holding the data (`online`) and those `req`'s placement admits (`eligible`). */
  async census(req: AgentRequirement): Promise<Census> {
    const since = new Date(Date.now() - this.config.AGENT_OFFLINE_AFTER_MS);
    const active = req.dataset === null ? await this.agents.onlineAny(since) : await this.agents.online(req.dataset, since);
    const online = req.dataHash ? active.filter((a) => agentDataHash(a, req.dataset!) === req.dataHash) : active;
    return { online, eligible: online.filter((a) => isEligible(a, req)) };
  }

  /** How many online agents hold the data, and how many of them `req` admits (the job view's `agents`). */
  async count(req: AgentRequirement): Promise<AgentCensus> {
    const c = await this.census(req);
    return { online: c.online.length, matching: c.eligible.length };
  }
}
