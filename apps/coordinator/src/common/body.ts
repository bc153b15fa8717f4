import { Injectable, SetMetadata, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { unsafeTextPath } from '@flotilla/contracts';
import type { Request } from 'express';
import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Observable } from 'rxjs';
import type { AppConfig } from '../config/config';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from './errors';

/**
 * Request bodies are read here, and only here: after the route's guards (Nest runs guards before interceptors), so an
 * unauthenticated or rate-limited request is answered without a byte of its body being read, and never beyond the
 * route's limit, which counts decompressed bytes (a gzip bomb stops at the limit). Nothing reads bodies as
 * Express middleware (bootstrap.ts registers no body parser).
 */

const BODY_OPTIONS = 'flotilla:body';

/** How a route's body is read (see {@link ReadBody}). */
export interface BodyOptions {
  /**
   * The handler reads the body itself with {@link readRawBody}, once its own checks have passed (an upload no task
   * asked for is refused unread); {@link BodyReader} leaves it alone.
   */
  raw?: true;
  /** Largest JSON body in bytes, decompressed, or the setting that says. Default: MAX_JSON_BYTES. */
  limit?: number | 'MAX_TASK_RESULT_BYTES';
}

/** A route's body options (default: JSON up to MAX_JSON_BYTES, read before the pipes run). */
export const ReadBody = (options: BodyOptions): MethodDecorator => SetMetadata(BODY_OPTIONS, options);

/** Whether the request carries a body at all (HTTP/1.1: a Transfer-Encoding, or a Content-Length above 0). */
export function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The Content-Length the client declared (Node's parser has checked that it is a number), or null when chunked. */
export function declaredLength(req: Request): number | null {
  const length = req.headers['content-length'];
  return length === undefined ? null : Number(length);
}

/** 413 from the declared length alone, before a byte of the body is read. */
export function refuseDeclaredOverLimit(req: Request, limit: number): void {
  const length = declaredLength(req);
  if (length !== null && length > limit) throw new PayloadTooLargeError(`Body of ${length} bytes; the limit here is ${limit} bytes`);
}

/** The body's bytes, decoded from its Content-Encoding; undefined when there is none. */
export async function readRawBody(req: Request, limit: number): Promise<Buffer | undefined> {
  if (!hasBody(req)) return undefined;
  refuseDeclaredOverLimit(req, limit);
  return collect(req, limit);
}

/**
 * A JSON body (Content-Type application/json, UTF-8), parsed, with no string or key holding NUL or a lone UTF-16
 * surrogate (PostgreSQL cannot store them). Undefined when there is no body or it is not JSON: the route's schema
 * then refuses it without it having been read.
 */
export async function readJsonBody(req: Request, limit: number): Promise<unknown> {
  if (!hasBody(req) || !req.is('application/json')) return undefined;
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8')
    throw new UnsupportedMediaTypeError(`Unsupported charset ${JSON.stringify(charset.slice(0, 40))}: JSON bodies are UTF-8`);
  const bytes = await readRawBody(req, limit);
  let body: unknown;
  try {
    body = JSON.parse(bytes!.toString('utf8'));
  } catch (e) {
    throw new ValidationError(`Malformed JSON body: ${(e as Error).message.slice(0, 200)}`);
  }
  const bad = unsafeTextPath(body);
  if (bad !== null) {
    const message = 'must not contain NUL or an unpaired UTF-16 surrogate';
    throw new ValidationError(`Invalid body: ${bad}: ${message}`, { fields: [{ field: bad, message }] });
  }
  return body;
}

/** The decompressor for the request's Content-Encoding, null for identity (415 for one the coordinator does not decode). */
function decompressor(req: Request): Transform | null {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  switch (encoding) {
    case 'identity':
    case '':
      return null;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new UnsupportedMediaTypeError(
        `Unsupported Content-Encoding ${JSON.stringify(encoding.slice(0, 40))}: send identity, gzip, deflate or br`,
      );
  }
}

/**
 * Reads the (decoded) body up to `limit` bytes. Past the limit it stops reading at once (413): the request is paused
 * and, having a body left unread, its response closes the connection (ErrorFilter), so neither memory nor the
 * rest of the upload is spent on it.
 */
function collect(req: Request, limit: number): Promise<Buffer> {
  const inflate = decompressor(req);
  const source: Readable = inflate ? req.pipe(inflate) : req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (error: Error | null): void => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      if (error) {
        if (inflate) {
          req.unpipe(inflate);
          inflate.destroy();
        }
        req.pause();
        reject(error);
      } else {
        resolve(Buffer.concat(chunks, size));
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit)
        return settle(new PayloadTooLargeError(`Body of more than ${limit} bytes (decompressed); the limit here is ${limit} bytes`));
      chunks.push(chunk);
    };
    source.on('data', onData);
    source.once('end', () => settle(null));
    // `on`, not `once`: a zlib stream that errs with no listener left would take the process down.
    if (inflate) inflate.on('error', (e) => settle(new ValidationError(`Body does not decompress: ${e.message}`)));
    req.once('error', () => settle(new ValidationError('The request ended before its body was complete')));
    req.once('close', () => {
      if (!req.complete) settle(new ValidationError('The request ended before its body was complete'));
    });
  });
}

type BodyRequest = Request & { body?: unknown };

/**
 * The one reader of JSON bodies, as a global interceptor: it runs after every guard and before the pipes that
 * validate `@Body()`. It also refuses query and path values holding NUL or lone surrogates.
 */
@Injectable()
export class BodyReader implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly config: Pick<AppConfig, 'MAX_JSON_BYTES' | 'MAX_TASK_RESULT_BYTES'>,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<BodyRequest>();
    for (const [what, values] of [
      ['query', req.query],
      ['path', req.params],
    ] as const) {
      const bad = unsafeTextPath(values);
      if (bad !== null) throw new ValidationError(`Invalid ${what}: ${bad}: must not contain NUL or an unpaired UTF-16 surrogate`);
    }
    const options = this.reflector.get<BodyOptions | undefined>(BODY_OPTIONS, context.getHandler()) ?? {};
    if (!options.raw) {
      const limit = typeof options.limit === 'number' ? options.limit : this.config[options.limit ?? 'MAX_JSON_BYTES'];
      req.body = await readJsonBody(req, limit);
    }
    return next.handle();
  }
}
