import { Module } from '@nestjs/common';
import { NasController } from './nas.controller';
import { NasJobKind } from './nas.kind';
import { NasRepository } from './nas.repository';

/** The NAS job kind: a GM-NAS supernet tree whose training, scoring and selection agents compute as tasks. */
@Module({
  controllers: [NasController],
  providers: [NasRepository, NasJobKind],
})
export class NasModule {}
