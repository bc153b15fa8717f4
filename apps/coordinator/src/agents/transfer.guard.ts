import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Agent } from '@prisma/client';
import type { Request, Response } from 'express';
import { TooManyTransfersError } from '../common/errors';
import { MetricsRegistry } from '../common/metrics.registry';
import { APP_CONFIG, type AppConfig } from '../config/config';

/**
 * Uploads and downloads in flight per agent on this process. One instance for the whole app (CoreModule), whichever
 * module's controller uses {@link TransferGuard}: Nest makes one guard instance per module, so the counts live here.
 */
@Injectable()
export class TransferSlots {
  private readonly inFlight = new Map<string, number>();
  private total = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'AGENT_MAX_TRANSFERS'>,
    private readonly metrics: MetricsRegistry,
  ) {}

  /** Takes a slot for `agentId` until `release` is called, or throws a TooManyTransfersError (429, Retry-After 1 s). */
  take(agentId: string): () => void {
    const n = this.inFlight.get(agentId) ?? 0;
    const max = this.config.AGENT_MAX_TRANSFERS;
    if (n >= max) {
      this.metrics.inc('flotilla_transfers_refused_total');
      throw new TooManyTransfersError(
        `This agent has ${n} uploads and downloads in flight, the most allowed (AGENT_MAX_TRANSFERS); retry in 1 s`,
        1,
      );
    }
    this.inFlight.set(agentId, n + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.inFlight.get(agentId) ?? 1) - 1;
      if (left > 0) this.inFlight.set(agentId, left);
      else this.inFlight.delete(agentId);
    };
  }

  /** Transfers in flight on this process, all agents together (`flotilla_agent_transfers`). */
  get inFlightTotal(): number {
    return this.total;
  }
}

/**
 * The data plane's bulk routes (updates, blobs up and down, task results): at most AGENT_MAX_TRANSFERS of one
 * agent's in flight at a time, 429 with Retry-After beyond (agents retry it), so one agent cannot hold more than that
 * many bodies in memory or streams open. Runs after AgentGuard (put it on the route, AgentGuard on the class) and
 * before the body is read; the slot is freed when the response is done or the connection drops.
 */
@Injectable()
export class TransferGuard implements CanActivate {
  constructor(private readonly slots: TransferSlots) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const agent = http.getRequest<Request & { agent?: Agent }>().agent;
    if (!agent) throw new Error('TransferGuard used without AgentGuard before it');
    const release = this.slots.take(agent.id);
    http.getResponse<Response>().once('close', release);
    return true;
  }
}
