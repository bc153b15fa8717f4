import { Global, Module } from '@nestjs/common';
import { ApiKeysRepository } from './api-keys.repository';
import { ApiKeysService } from './api-keys.service';
import { ApiKeysController, AuthController, JoinTokensController } from './auth.controller';
import { JoinTokensRepository } from './join-tokens.repository';
import { JoinTokensService } from './join-tokens.service';
import { RoleGuard } from './role.guard';

/**
 * Access control: API keys with roles for people (RequireRole guards every admin-side route), join tokens for
 * agents (AgentsService.register admits through JoinTokensService), and their management endpoints.
 */
@Global()
@Module({
  controllers: [AuthController, JoinTokensController, ApiKeysController],
  providers: [ApiKeysRepository, ApiKeysService, JoinTokensRepository, JoinTokensService, RoleGuard],
  exports: [ApiKeysService, JoinTokensService, RoleGuard],
})
export class AuthModule {}
