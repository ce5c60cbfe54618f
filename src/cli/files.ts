/**
 * Files the controller writes (the journal and its snapshots, trace logs, DEX exports) hold the
 * machine's takings and its service PIN's effects: they are the operator's alone, created 0600 and
 * their directories 0700, whatever the umask the process was started with.
 */
export const OWNER_ONLY_UMASK = 0o077;

/** Sets the owner-only umask for everything this process creates from now on. */
export function ownerOnlyFiles(): void {
  try {
    process.umask(OWNER_ONLY_UMASK);
  } catch {
    // Worker threads cannot change the umask (the test runner's); the process itself always can.
  }
}
