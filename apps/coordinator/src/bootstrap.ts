import 'reflect-metadata';
import { Logger, type INestApplication, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { useWasmBackend } from '@flotilla/algorithms';
import * as express from 'express';
import { AppModule } from './app.module';
import { ErrorFilter } from './common/error.filter';
import { requestId } from './common/request-id.middleware';
import type { AppConfig } from './config/config';
import { migrate } from './database/migrator';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug'];

/** Builds and starts the coordinator; used by main.ts and by the tests (real HTTP on an ephemeral port). */
export async function startCoordinator(config: AppConfig): Promise<INestApplication> {
  const logger = new Logger('Coordinator');
  if (config.MIGRATE_ON_START) {
    const applied = await migrate(config.DATABASE_URL);
    if (applied.length) logger.log(`applied migrations: ${applied.join(', ')}`);
  }
  logger.log(`tfjs backend: ${await useWasmBackend()}`);
  const app = await NestFactory.create(AppModule.forConfig(config), {
    bodyParser: false,
    logger: LEVELS.slice(0, LEVELS.indexOf(config.LOG_LEVEL) + 1),
  });
  app.use(requestId);
  app.use(express.json({ limit: '1mb' }));
  app.use('/api/v1/jobs/:jobId/rounds/:round/update', express.raw({ type: () => true, limit: config.MAX_UPDATE_BYTES }));
  app.use('/api/v1/blobs', express.raw({ type: 'application/octet-stream', limit: config.MAX_UPDATE_BYTES }));
  app.setGlobalPrefix('api/v1', { exclude: ['health', 'metrics', 'dashboard'] });
  app.useGlobalFilters(new ErrorFilter());
  app.enableShutdownHooks();
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder().setTitle('Flotilla coordinator').setVersion('1').addBearerAuth().build(),
  );
  SwaggerModule.setup('api/docs', app, doc);
  await app.listen(config.PORT, config.HOST);
  return app;
}
