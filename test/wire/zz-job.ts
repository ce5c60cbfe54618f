import { runWireSessions } from './conservation.ts';
const [seed, sessions, first] = process.argv.slice(2).map(Number);
const t0 = performance.now();
const r = await runWireSessions({ seed: seed ?? 1, sessions: sessions ?? 100, first: first ?? 0 });
console.log(r.violation ?? 'ok', r.faultsInjected, r.advisories, performance.now() - t0);
