// npm 11 writes no lock entry for a platform-specific optional dependency it cannot resolve (the
// registry mirror here holds only linux-x64 builds of rollup's native packages), and `npm ci` then
// refuses the lock as out of sync. This adds the missing entries, marked optional with their
// os/cpu/libc read off rollup's package names, so `npm ci` skips them on this platform.
// Run after `npm install` changes the lock: node scripts/complete-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const m = /^@rollup\/rollup-([a-z0-9]+)-([a-z0-9]+)(?:-(gnu|musl|gnueabihf|musleabihf|msvc|eabi))?$/.exec(name);
    const child = `${key ? `${key}/` : ''}node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (!m || packages[child] || packages[hoisted]) continue;
    const [, os, cpu, abi] = m;
    const e = { version, cpu: [cpu], dev: entry.dev ?? false, license: 'MIT', optional: true, os: [os] };
    if (os === 'linux') e.libc = [abi?.startsWith('musl') ? 'musl' : 'glibc'];
    if (!e.dev) delete e.dev;
    packages[hoisted] = e;
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} optional platform entries`);
