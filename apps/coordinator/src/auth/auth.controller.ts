import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  CreateApiKeySchema,
  CreateJoinTokenSchema,
  UuidParam,
  type ApiKeyView,
  type CreateApiKey,
  type CreatedApiKey,
  type CreatedJoinToken,
  type CreateJoinToken,
  type JoinTokenView,
  type Principal,
} from '@flotilla/contracts';
import { jsonSchema } from '../common/openapi';
import { ZodPipe } from '../common/zod.pipe';
import { ApiKeysService } from './api-keys.service';
import { JoinTokensService } from './join-tokens.service';
import { CurrentPrincipal, RequireRole } from './role.guard';

@ApiTags('access')
@Controller('auth')
export class AuthController {
  @Get('me')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'The role and label of the presented key (any valid API key or ADMIN_TOKEN)' })
  me(@CurrentPrincipal() principal: Principal): Principal {
    return principal;
  }
}

@ApiTags('access')
@RequireRole('admin')
@Controller('join-tokens')
export class JoinTokensController {
  constructor(private readonly tokens: JoinTokensService) {}

  @Post()
  @ApiOperation({ summary: 'Issue a join token for agents (optionally expiring and with a maximum of uses); the token is shown once' })
  @ApiBody({ schema: jsonSchema(CreateJoinTokenSchema) })
  create(@Body(new ZodPipe(CreateJoinTokenSchema, 'join token')) body: CreateJoinToken): Promise<CreatedJoinToken> {
    return this.tokens.create(body);
  }

  @Get()
  @ApiOperation({ summary: 'Join tokens with their state, uses and expiry (never their secrets)' })
  list(): Promise<JoinTokenView[]> {
    return this.tokens.list();
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke a join token: no agent registers with it any more (agents that did keep their credentials)' })
  revoke(@Param('id', new ZodPipe(UuidParam, 'join token id')) id: string): Promise<JoinTokenView> {
    return this.tokens.revoke(id);
  }
}

@ApiTags('access')
@RequireRole('admin')
@Controller('api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @ApiOperation({ summary: 'Issue an API key with a role (viewer, submitter or admin); the key is shown once' })
  @ApiBody({ schema: jsonSchema(CreateApiKeySchema) })
  create(@Body(new ZodPipe(CreateApiKeySchema, 'API key')) body: CreateApiKey): Promise<CreatedApiKey> {
    return this.keys.create(body);
  }

  @Get()
  @ApiOperation({ summary: 'API keys with their roles (never their secrets)' })
  list(): Promise<ApiKeyView[]> {
    return this.keys.list();
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke an API key: every later request with it is a 401' })
  revoke(@Param('id', new ZodPipe(UuidParam, 'API key id')) id: string): Promise<ApiKeyView> {
    return this.keys.revoke(id);
  }
}
