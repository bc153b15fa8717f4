import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** apps/coordinator/assets/dashboard.html, found from this file whether it runs compiled (dist/) or not. */
function dashboardFile(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, 'apps', 'coordinator', 'assets', 'dashboard.html');
    if (existsSync(candidate)) return candidate;
    const sibling = path.join(dir, 'assets', 'dashboard.html');
    if (existsSync(sibling)) return sibling;
    dir = path.dirname(dir);
  }
  throw new Error(`dashboard.html not found above ${__dirname}`);
}

/**
 * The admin dashboard: one static page (assets/dashboard.html) that calls the admin REST API with the token the
 * operator types in. Served without authentication (it holds no data); its inline script and style run only with
 * this response's nonce (Content-Security-Policy), and it may connect only to this origin.
 */
@ApiExcludeController()
@Controller()
export class DashboardController {
  private readonly page = readFileSync(dashboardFile(), 'utf8');

  @Get('dashboard')
  dashboard(@Res() res: Response): void {
    const nonce = randomBytes(16).toString('base64');
    res
      .status(200)
      .set({
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      })
      .send(this.page.replaceAll('__NONCE__', nonce));
  }
}
