// `npm run build` (also run by `npm install` / `npm ci` through `prepare`): compiles the sources to
// dist/ with tsc (tsconfig.build.json) and copies the data files the program reads next to its
// modules (the simulator's machine configs). Plain Node, so it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = join(root, 'dist');
// A stale module from a renamed source must not linger in the output.
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build: tsc failed');
  process.exit(r.status ?? 1);
}
cpSync(join(root, 'sim/machines'), join(dist, 'sim/machines'), { recursive: true });
chmodSync(join(dist, 'src/cli/bin.js'), 0o755);
