// Worker threads do not inherit the tsx loader given with --import on Node 20, so each worker
// registers it here and then loads its TypeScript entry (named in workerData.entry).
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.entry, import.meta.url);
