import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BlobStore } from './blob-store';

export const BLOB_STORE = Symbol('BLOB_STORE');

@Global()
@Module({
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
  ],
  exports: [BLOB_STORE],
})
export class BlobsModule {}
