import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/** Every response carries an X-Request-Id (taken from the request when it is a sane value). */
export function requestId(req: Request & { requestId?: string }, res: Response, next: NextFunction): void {
  const given = req.header('x-request-id');
  const id = given && /^[A-Za-z0-9._-]{1,128}$/.test(given) ? given : randomUUID();
  req.requestId = id;
  res.setHeader('X-Request-Id', id);
  next();
}
