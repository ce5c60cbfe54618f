#!/usr/bin/env node
// The development entry: registers tsx so the TypeScript sources run as they are, then runs the
// same entry as the built bin (bin.ts). `npm run build` compiles it to dist/src/cli/bin.js.
import { register } from 'tsx/esm/api';

register();
await import('./bin.ts');
