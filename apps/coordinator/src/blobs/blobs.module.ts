import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BlobGcService } from './blob-gc.service';
import { BLOB_STORE, BlobStore } from './blob-store';
import { BlobsAdminController } from './blobs-admin.controller';
import { BlobsController } from './blobs.controller';

/**
 * Everything about blobs: the content-addressed store (its layout is its own), the agents' download and upload
 * endpoints, and the sweeper with its admin endpoint.
 */
@Global()
@Module({
  controllers: [BlobsController, BlobsAdminController],
  providers: [
    {
      provide: BLOB_STORE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        const store = new BlobStore(config.BLOB_DIR);
        await store.init();
        return store;
      },
    },
    BlobGcService,
  ],
  exports: [BLOB_STORE, BlobGcService],
})
export class BlobsModule {}
