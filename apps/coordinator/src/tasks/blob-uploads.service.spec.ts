import type { BlobGcService } from '../blobs/blob-gc.service';
import { BlobStore } from '../blobs/blob-store';
import { fake } from '../testing/fakes';
import { QuotaExceededError, UploadNotExpectedError } from '../common/errors';
import { MetricsRegistry } from '../common/metrics.registry';
import type { BlobUploadsRepository, UploadState } from './blob-uploads.repository';
import { BlobUploadsService } from './blob-uploads.service';

/** The ledger's SQL is the integration test's (input-limits.spec.ts); here, the decisions on what it reports. */
describe('BlobUploadsService', () => {
  let state: UploadState;
  const recorded: string[] = [];
  const stored: string[] = [];
  const repo = {
    state: () => Promise.resolve(state),
    record: (_agent: string, hash: string, _bytes: number, kinds: readonly string[], admit: (s: UploadState) => void) => {
      expect(kinds).toEqual(['nas.train', 'nas.standalone']);
      if (state.repeated) return Promise.resolve(state);
      admit(state);
      recorded.push(hash);
      return Promise.resolve(state);
    },
  } as unknown as BlobUploadsRepository;
  const blobs = { put: (b: Uint8Array) => (stored.push(BlobStore.hash(b)), Promise.resolve(BlobStore.hash(b))) } as unknown as BlobStore;
  let metrics: MetricsRegistry;
  let service: BlobUploadsService;
  const bytes = (n: number) => new Uint8Array(n).fill(n);

  beforeEach(() => {
    metrics = new MetricsRegistry();
    service = new BlobUploadsService(
      repo,
      blobs,
      { AGENT_BLOB_QUOTA_BYTES: 100, AGENT_BLOB_QUOTA_COUNT: 2 },
      metrics,
      fake<BlobGcService>({ onSweep: () => undefined }),
    );
    state = { taskId: 't', bytes: 0, count: 0, repeated: false };
    recorded.length = stored.length = 0;
  });

  it('refuses before the body: no open task that names blobs, or a declared size over the whole quota', async () => {
    state.taskId = null;
    await expect(service.admit('a', 8)).rejects.toThrow(UploadNotExpectedError);
    state.taskId = 't';
    await expect(service.admit('a', 101)).rejects.toThrow(QuotaExceededError);
    await expect(service.admit('a', 100)).resolves.toBeUndefined();
    await expect(service.admit('a', null)).resolves.toBeUndefined(); // chunked: judged once read
  });

  it('stores within the quota, refuses past its bytes or its count without storing, lets a repeated upload through', async () => {
    expect(await service.store('a', bytes(60))).toBe(BlobStore.hash(bytes(60)));
    state = { taskId: 't', bytes: 60, count: 1, repeated: false };
    await expect(service.store('a', bytes(41))).rejects.toThrow(/AGENT_BLOB_QUOTA_BYTES \(100\)/);
    await service.store('a', bytes(40));
    state = { taskId: 't', bytes: 100, count: 2, repeated: false };
    await expect(service.store('a', bytes(1))).rejects.toThrow(/AGENT_BLOB_QUOTA_COUNT/);
    state.repeated = true;
    await service.store('a', bytes(60)); // the same blob again: free
    expect(recorded).toEqual([BlobStore.hash(bytes(60)), BlobStore.hash(bytes(40))]);
    expect(stored).toEqual([BlobStore.hash(bytes(60)), BlobStore.hash(bytes(40)), BlobStore.hash(bytes(60))]);
    expect(metrics.render({})).toMatch(/flotilla_blob_uploads_refused_total 2/);
  });
});
