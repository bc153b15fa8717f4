import { CanActivate, Controller, ExecutionContext, Get, Inject, Injectable, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DatasetNameSchema, type DatasetShape, type DatasetSummary } from '@flotilla/contracts';
import type { Request } from 'express';
import { JoinTokensService } from '../auth/join-tokens.service';
import { RequireRole } from '../auth/role.guard';
import { bearerToken } from '../common/bearer';
import { UnauthorizedError } from '../common/errors';
import { RateLimiter } from '../common/rate-limiter';
import { ZodPipe } from '../common/zod.pipe';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DatasetCatalog } from '../datasets/dataset-catalog';
import { AgentsService } from './agents.service';

/** Agent credentials (`<uuid>.<secret>`); anything else in the header is taken for a join token. */
const AGENT_CREDENTIALS = /^[0-9a-f-]{36}\.[A-Za-z0-9_-]{16,128}$/;

/**
 * `Authorization: Bearer <join token>` (one that would admit a registration now; it is not used up) or
 * `Bearer <agentId>.<agentSecret>`: what an agent holds before it registers or when it rejoins. Not a heartbeat: an
 * agent whose file does not fit stops without ever counting as online. Limited per source address like
 * registrations (REGISTER_RATE_PER_MINUTE), since a join token is checked against the database.
 */
@Injectable()
export class JoinTokenOrAgentGuard implements CanActivate {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly agents: AgentsService,
    private readonly joinTokens: JoinTokensService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.limiter = new RateLimiter(config.REGISTER_RATE_PER_MINUTE / 60, config.REGISTER_RATE_PER_MINUTE, 10_000);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request>();
    const token = bearerToken(req);
    if (!token) throw new UnauthorizedError('Needs a join token or agent credentials (Authorization: Bearer …)');
    if (AGENT_CREDENTIALS.test(token)) {
      await this.agents.authenticate(token);
      return true;
    }
    this.limiter.take(req.ip ?? 'unknown', 'dataset reads from this address');
    await this.joinTokens.check(token);
    return true;
  }
}

/** What agents read before they join (the shape their file for a dataset must have), and the catalogue for people. */
@ApiTags('agents')
@Controller('datasets')
export class DatasetsController {
  constructor(private readonly catalog: DatasetCatalog) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary:
      "The coordinator's datasets: each one's shape (features, classes, value range) and the size of its held-out split, the rows every global model is evaluated on",
  })
  list(): DatasetSummary[] {
    return this.catalog.summaries();
  }

  @Get(':name')
  @UseGuards(JoinTokenOrAgentGuard)
  @ApiBearerAuth()
  @ApiOperation({
    summary:
      "A dataset's shape (features, classes, value range), for an agent to check its file before it joins; with a join token or agent credentials. 404 names the known datasets",
  })
  shape(@Param('name', new ZodPipe(DatasetNameSchema, 'dataset name')) name: string): DatasetShape {
    return this.catalog.shape(name);
  }
}
