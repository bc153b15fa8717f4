import 'reflect-metadata';
import { Logger, type INestApplication, type LogLevel } from '@nestjs/common';
import { NestFactory, Reflector } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { useWasmBackend } from '@flotilla/algorithms';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { AppModule } from './app.module';
import { BodyReader } from './common/body';
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
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forConfig(config), {
    bodyParser: false,
    logger: LEVELS.slice(0, LEVELS.indexOf(config.LOG_LEVEL) + 1),
    ...(config.TLS_CERT_FILE && config.TLS_KEY_FILE
      ? { httpsOptions: { cert: readFileSync(config.TLS_CERT_FILE), key: readFileSync(config.TLS_KEY_FILE) } }
      : {}),
  });
  app.set('trust proxy', trustProxy(config.TRUST_PROXY));
  if (config.CORS_ORIGINS.length) {
    // Browser pages on these origins may call the API (a browser agent, a dashboard served elsewhere); credentials
    // travel in the Authorization header, never in cookies.
    app.enableCors({
      origin: config.CORS_ORIGINS,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposedHeaders: ['x-request-id', 'x-model-hash', 'x-model-round', 'retry-after'],
      maxAge: 600,
    });
  }
  app.use(requestId);
  // No body parser here: bodies are read after each route's guards, never before authentication (BodyReader, and
  // the upload routes' own readRawBody), each within its route's limit.
  app.setGlobalPrefix('api/v1', { exclude: ['health', 'metrics', 'dashboard', 'dashboard/{*route}'] });
  app.useGlobalFilters(new ErrorFilter());
  app.useGlobalInterceptors(new BodyReader(app.get(Reflector), config));
  app.enableShutdownHooks();
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder().setTitle('Flotilla coordinator').setVersion('1').addBearerAuth().build(),
  );
  SwaggerModule.setup('api/docs', app, doc);
  await app.listen(config.PORT, config.HOST);
  keepIdleConnectionsLongerThanAgents(app.getHttpServer());
  return app;
}

/**
 * An idle keep-alive connection is closed by the agent, never by the coordinator: the agents' pool drops idle sockets
 * after 30 s (client-agent coordinator-client.ts), the coordinator after 65 s. Were it the other way round, an agent
 * could send a request on a socket at the moment the coordinator closes it, and lose it (UND_ERR_SOCKET a few ms
 * after it started). headersTimeout must exceed keepAliveTimeout, or Node may cut a reused socket's next request.
 */
function keepIdleConnectionsLongerThanAgents(server: Server): void {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
}

/** TRUST_PROXY as Express takes it: a boolean, a hop count, or addresses. */
function trustProxy(value: string): boolean | number | string {
  if (value === 'true' || value === 'false') return value === 'true';
  return /^\d+$/.test(value) ? Number(value) : value;
}
