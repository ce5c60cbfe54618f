/**
 * Time is injected everywhere (never read from globals in core code), so one clock can drive the
 * statechart, the devices and the emulators. The shape is a superset of XState's `Clock`, so the
 * same object is handed to `createActor(..., { clock })`.
 */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since an arbitrary epoch (virtual or real). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Resolves after `ms` on the given clock. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms);
  });
}
