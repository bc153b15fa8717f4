import { FOLD_WASM_BASE64 } from '../../libs/algorithms/src/aggregation/wasm/fold-wasm';
import { compileFoldWat } from '../../scripts/build-wasm';

describe('generated WebAssembly', () => {
  it('fold-wasm.ts is fold.wat compiled (run `npm run build:wasm` after editing the .wat)', async () => {
    expect(Buffer.from(await compileFoldWat()).toString('base64')).toBe(FOLD_WASM_BASE64);
  });
});
