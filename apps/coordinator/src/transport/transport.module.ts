import { Module } from '@nestjs/common';
import { WorkController } from './work.controller';
import { WorkHub } from './work-hub.service';

/** How agents receive work: long polls over HTTP(S), woken through Redis pub/sub (ARCHITECTURE.md, "Agent transport"). */
@Module({
  controllers: [WorkController],
  providers: [WorkHub],
  exports: [WorkHub],
})
export class TransportModule {}
