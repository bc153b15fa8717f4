import { Module } from '@nestjs/common';
import { FederatedJobKind } from './federated.kind';
import { ModelWeightsController } from './model-weights.controller';
import { RoundsController } from './rounds.controller';
import { RoundsRepository } from './rounds.repository';
import { RoundsService } from './rounds.service';
import { UpdatesController } from './updates.controller';

/** The federated job kind: the round loop, the agents' update and decline endpoints, rounds and participation views, the model's export and
 * initial weights. */
@Module({
  controllers: [UpdatesController, RoundsController, ModelWeightsController],
  providers: [RoundsRepository, RoundsService, FederatedJobKind],
})
export class FederatedModule {}
