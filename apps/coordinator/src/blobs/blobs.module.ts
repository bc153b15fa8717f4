import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BlobGcService } from './blob-gc.service';
import { BLOB_STORE, BlobStore } from './blob-store';
import { BlobsAdminController } from './blobs-admin.controller';
import { BlobsController } from './blobs.controller';
import { FsBlobStore } from './fs-blob-store';
import { S3BlobStore } from './s3-blob-store';

/** The driver BLOB_STORE names, configured from the settings. */
export function createBlobStore(config: AppConfig): BlobStore {
  if (config.BLOB_STORE === 'fs') return new FsBlobStore(config.BLOB_DIR);
  return new S3BlobStore({
    bucket: config.S3_BUCKET!,
    prefix: config.S3_PREFIX,
    region: config.S3_REGION,
    endpoint: config.S3_ENDPOINT,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    publicEndpoint: config.S3_PUBLIC_ENDPOINT,
    credentials:
      config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
        ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY }
        : undefined,
  });
}

/**
 * Everything about blobs: the content-addressed store (a directory or an S3 bucket; its layout is its own), the
 * agents' download and upload endpoints, and the sweeper with its admin endpoint.
 */
@Global()
@Module({
  controllers: [BlobsController, BlobsAdminController],
  providers: [
    {
      provide: BLOB_STORE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        const store = createBlobStore(config);
        await store.init();
        return store;
      },
    },
    BlobGcService,
  ],
  exports: [BLOB_STORE, BlobGcService],
})
export class BlobsModule implements OnApplicationShutdown {
  constructor(@Inject(BLOB_STORE) private readonly blobs: BlobStore) {}

  onApplicationShutdown(): void {
    this.blobs.close();
  }
}
