// The dashboard is bundled at build time and served by the coordinator under /dashboard/ (no CDN at run time).
// Its Content-Security-Policy allows no inline script or style, so nothing is inlined: every asset is a hashed file.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/dashboard/',
  root: import.meta.dirname,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
