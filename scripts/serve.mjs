// `npm start` serves the built app (dist/) with sirv, the static file handler vite's own preview
// uses, adding the headers the app needs. PORT (default 4173) and HOST (default 127.0.0.1) choose
// where; Ctrl-C or SIGTERM closes open connections and exits 0.
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';

const root = fileURLToPath(new URL('../dist', import.meta.url));
if (!existsSync(`${root}/index.html`)) {
  console.error(`No build in ${root}: run "npm run build" first (npm start does it for you).`);
  process.exit(1);
}
const port = Number(process.env.PORT ?? 4173);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, not "${process.env.PORT}".`);
  process.exit(1);
}
const host = process.env.HOST || '127.0.0.1';

/** Headers every response carries; a static host of dist/ must send the same (see README). */
const requiredHeaders = {
  // Cross-origin isolation: SharedArrayBuffer, hence tfjs's threaded WASM backend.
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

const files = sirv(root, {
  etag: true,
  setHeaders(res, pathname) {
    for (const [k, v] of Object.entries(requiredHeaders)) res.setHeader(k, v);
    // Hashed build outputs never change under one name; everything else (index.html, sw.js, the
    // manifest, datasets) is revalidated so a deploy is picked up and the service worker updates.
    res.setHeader(
      'Cache-Control',
      pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    );
  },
});

const server = createServer((req, res) => {
  files(req, res, () => {
    res.statusCode = 404;
    for (const [k, v] of Object.entries(requiredHeaders)) res.setHeader(k, v);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end('Not found\n');
  });
});

server.on('error', (e) => {
  console.error(e.code === 'EADDRINUSE' ? `Port ${port} is in use: set PORT to another one.` : e.message);
  process.exit(1);
});

server.listen(port, host, () => {
  const address = server.address();
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  console.log(`Browser Trainer is served at http://${shown}:${address.port}/ (Ctrl-C to stop)`);
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the server.`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
