import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

const port = Number(process.env.PORT) || 4173;
// A test build (Playwright's web server, `npm run bench`) compiles in fault injection and benchmark
// hooks; defined as a literal so that a production build drops them and everything they import.
const testHooks = process.env.VITE_TEST_HOOKS === '1';
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  define: { 'import.meta.env.VITE_TEST_HOOKS': JSON.stringify(testHooks) },
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4000 },
  // `npm run dev` isolates the page as `npm start` does (scripts/serve.mjs), so threaded WASM behaves the same.
  server: { port, strictPort: true, headers: isolation },
  preview: { port, strictPort: true, host: '127.0.0.1', headers: isolation },
  plugins: [
    VitePWA({
      // The page asks before an update takes over: a reload must never cut a training run.
      registerType: 'prompt',
      injectRegister: false,
      manifest: {
        name: 'Browser Trainer',
        short_name: 'Trainer',
        description: 'Train neural networks on your own GPU, in the browser, offline.',
        theme_color: '#1f4e79',
        background_color: '#f6f7f9',
        display: 'standalone',
        start_url: '.',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      workbox: {
        // The app, tfjs (bundled in the worker chunk), the wasm binaries and the datasets.
        globPatterns: ['**/*.{js,css,html,wasm,txt,json,svg,png,webmanifest}'],
        maximumFileSizeToCacheInBytes: 64 * 1024 * 1024,
        navigateFallback: 'index.html',
      },
    }),
  ],
});
