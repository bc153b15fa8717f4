import { applyDecorators, CanActivate, createParamDecorator, ExecutionContext, Injectable, SetMetadata, UseGuards } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';
import { rolesAtLeast, type Principal, type Role } from '@flotilla/contracts';
import type { Request } from 'express';
import { bearerToken } from '../common/bearer';
import { ApiKeysService, authorize } from './api-keys.service';

const REQUIRED_ROLE = 'flotilla:required-role';

type PrincipalRequest = Request & { principal?: Principal };

/**
 * The people side of the API: `Authorization: Bearer <API key or ADMIN_TOKEN>`, 401 without a valid key, 403 when
 * the key's role is below the route's (RequireRole, the method's over the class's).
 */
@Injectable()
export class RoleGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const role = this.reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, [context.getHandler(), context.getClass()]);
    if (!role) throw new Error(`RoleGuard on ${context.getClass().name}.${context.getHandler().name} without @RequireRole`);
    const req = context.switchToHttp().getRequest<PrincipalRequest>();
    // A route with RequireRole on its class and on itself runs the guard twice: the key is looked up once.
    req.principal ??= await this.keys.authenticate(bearerToken(req));
    authorize(req.principal, role);
    return true;
  }
}

/**
 * The least role that may call a route (or every route of a controller; a route's own RequireRole overrides its
 * class's). The OpenAPI document lists the roles under `x-required-role`.
 */
export function RequireRole(role: Role): ClassDecorator & MethodDecorator {
  return applyDecorators(
    SetMetadata(REQUIRED_ROLE, role),
    UseGuards(RoleGuard),
    ApiBearerAuth(),
    ApiExtension('x-required-role', rolesAtLeast(role)),
  );
}

/** The key a RequireRole route was called with. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<PrincipalRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used without RequireRole');
  return principal;
});
