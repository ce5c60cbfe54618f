#!/usr/bin/env node
// The `vendomat` bin: registers tsx so the TypeScript sources run as they are (no build step),
// then hands over to main.ts. process.exitCode (not process.exit) lets pending output flush.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv);
