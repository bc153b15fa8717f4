import { Module } from '@nestjs/common';
import { BilevelController } from './bilevel.controller';
import { BilevelJobKind } from './bilevel.kind';
import { BilevelRepository } from './bilevel.repository';

/** The bilevel job kind: runs of penalty methods whose oracles agents evaluate as tasks. */
@Module({
  controllers: [BilevelController],
  providers: [BilevelRepository, BilevelJobKind],
})
export class BilevelModule {}
