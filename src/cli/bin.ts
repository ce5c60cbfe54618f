#!/usr/bin/env node
/**
 * The `vendomat` bin, compiled to dist/src/cli/bin.js by `npm run build` (run by `npm install`).
 * Development runs the same file from the sources through src/cli/vendomat.mjs (tsx).
 *
 * A reader that goes away (`vendomat diagram | head -1`) closes our stdout: that is the end of the
 * output, not an error, so it ends the process quietly instead of with an EPIPE stack trace.
 */
import { main } from './main.ts';

function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

quietOnClosedPipe(process.stdout);
quietOnClosedPipe(process.stderr);
// process.exitCode (not process.exit) lets pending output flush.
process.exitCode = await main(process.argv);
