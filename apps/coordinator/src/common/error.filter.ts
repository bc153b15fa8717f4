import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { ErrorBody } from '@flotilla/contracts';
import type { Request, Response } from 'express';
import { DependencyUnavailableError, DomainError, TooManyRequestsError } from './errors';
import { outageOf } from './outage';

/** An error of the http-errors kind (Express, body parsers) with a 4xx status and a message meant for the client. */
function isClientHttpError(e: unknown): e is Error & { status: number } {
  const status = (e as { status?: unknown } | null)?.status;
  return e instanceof Error && (e as { expose?: unknown }).expose === true && typeof status === 'number' && status >= 400 && status < 500;
}

/** The one exit for errors: domain errors keep their status and message, anything else is a 500. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ErrorFilter');

  catch(thrown: unknown, host: ArgumentsHost): void {
    const exception = this.asOutage(thrown);
    const http = host.switchToHttp();
    const req = http.getRequest<Request & { requestId?: string }>();
    const res = http.getResponse<Response>();
    const requestId = req.requestId ?? 'unknown';
    let body: ErrorBody;
    if (exception instanceof DomainError) {
      body = { statusCode: exception.status, code: exception.code, message: exception.message, details: exception.details, requestId };
    } else if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const r = exception.getResponse();
      const message = typeof r === 'string' ? r : ((r as { message?: string | string[] }).message ?? exception.message);
      body = {
        statusCode: status,
        code: status === 413 ? 'payload_too_large' : `http_${status}`,
        message: Array.isArray(message) ? message.join('; ') : message,
        requestId,
      };
    } else if (isClientHttpError(exception)) {
      // An Express-level error that carries a 4xx (e.g. a malformed URL): the client's fault, never a 500.
      body = { statusCode: exception.status, code: `http_${exception.status}`, message: exception.message, requestId };
    } else {
      this.logger.error(`request ${requestId} failed: ${exception instanceof Error ? exception.stack : String(exception)}`);
      body = { statusCode: 500, code: 'internal', message: 'Internal server error', requestId };
    }
    if (exception instanceof TooManyRequestsError || exception instanceof DependencyUnavailableError)
      res.setHeader('Retry-After', String(exception.retryAfterSeconds));
    // A refusal before the body was read (401, 413, 415, 429, ...): close the connection rather than let Node read
    // and discard the rest of the upload to keep it alive.
    if (!req.complete) res.setHeader('Connection', 'close');
    res.status(body.statusCode).json(body);
  }

  /**
   * PostgreSQL or Redis unreachable is an outage, not a bug: 503 with Retry-After (callers retry), logged as one line
   * without a stack; any other error is left as it is.
   */
  private asOutage(exception: unknown): unknown {
    const outage = outageOf(exception);
    if (!outage || outage === exception) return exception;
    this.logger.warn(`${outage.message}: ${exception instanceof Error ? exception.message.split('\n').filter(Boolean).at(-1) : ''}`);
    return outage;
  }
}
