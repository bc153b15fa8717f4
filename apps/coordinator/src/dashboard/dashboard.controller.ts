import { Controller, Get, Logger, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * apps/dashboard/dist (what `npm run build` writes), found from this file whether it runs compiled
 * (apps/coordinator/dist/dashboard/) or from source under ts-jest/swc (apps/coordinator/src/dashboard/); null if the
 * dashboard was not built.
 */
export function dashboardDist(from = __dirname): string | null {
  let dir = from;
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, 'apps', 'dashboard', 'dist');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    dir = path.dirname(dir);
  }
  return null;
}

/**
 * No inline script or style at all: the bundle is files of this origin, and the page calls only this origin's API.
 * Images may be data: or blob: URLs (canvas exports, downloads); nothing may frame the page.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** A bundle file's name: Vite's `name-hash.ext`, no path separator, no leading dot. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * The admin dashboard (apps/dashboard), bundled at build time: index.html for /dashboard and every client-side route
 * under it, the hashed bundle files under /dashboard/assets/ with a year's immutable cache. Served without
 * authentication (it holds no data: the page calls the admin REST API with the key the operator types in).
 */
@ApiExcludeController()
@Controller('dashboard')
export class DashboardController {
  private readonly logger = new Logger('Dashboard');
  private readonly dist = dashboardDist();
  private readonly index = this.dist ? readFileSync(path.join(this.dist, 'index.html')) : null;

  constructor() {
    if (!this.dist) this.logger.warn('apps/dashboard/dist not found: /dashboard answers 503 until `npm run build` has built it');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() res: Response): void {
    if (!this.dist) return this.notBuilt(res);
    if (!ASSET_NAME.test(file)) return this.notFound(res);
    res.set(SECURITY_HEADERS);
    res.sendFile(file, { root: path.join(this.dist, 'assets'), dotfiles: 'deny', maxAge: '365d', immutable: true }, (err) => {
      if (err && !res.headersSent) this.notFound(res);
    });
  }

  @Get()
  root(@Res() res: Response): void {
    this.page(res);
  }

  @Get('*route')
  route(@Res() res: Response): void {
    this.page(res);
  }

  private page(res: Response): void {
    if (!this.index) return this.notBuilt(res);
    res
      .status(200)
      .set({ ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' })
      .send(this.index);
  }

  private notFound(res: Response): void {
    res.status(404).set(SECURITY_HEADERS).type('text/plain').send('Not found');
  }

  private notBuilt(res: Response): void {
    res
      .status(503)
      .set(SECURITY_HEADERS)
      .type('text/plain')
      .send('The dashboard was not built: run `npm run build` (it writes apps/dashboard/dist).');
  }
}
