/**
 * What the terminal UI drives: one simulated machine with its controller on a virtual clock. The UI
 * only needs this small interface, so it can sit on a `SimSession` (the line mode's session, which
 * also brings the command interpreter for the UI's `:` prompt) or on anything else of this shape.
 */
import type { Observable } from 'rxjs';
import type { FrameTrace } from '../../hardware/serial/types.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import type { Controller, Logger, TimedEvent } from '../../src/controller/controller.ts';
import type { VirtualClock } from '../clock.ts';
import type { SimMachine } from '../machine.ts';
import { SimSession } from '../session.ts';

/** The result of one interpreted command line (the shape of `SimSession.exec`'s answer). */
export interface UiCommandResult {
  readonly ok: boolean;
  readonly output: readonly string[];
}

export interface UiMachine {
  readonly config: MachineConfig;
  readonly clock: VirtualClock;
  readonly controller: Controller;
  readonly sim: SimMachine;
  /** Wire-level frames (MDB, ccTalk, pin changes) when the machine runs at the wire level. */
  readonly trace$?: Observable<FrameTrace>;
  /** Domain events emitted before the UI attached, oldest first (start-up events, for the log and counters). */
  readonly history?: readonly TimedEvent[];
  /**
   * Runs one line-mode command (`coin 50`, `fault offline coin in 5s`, ...). It moves the virtual
   * clock itself, so the UI calls it only while its own clock driving is held off.
   */
  exec?(line: string): Promise<UiCommandResult>;
  /** Service "test vend" of a column (door open); the UI shows the entry unavailable without it. */
  testVend?(column: string): Promise<string>;
  /** Stops the controller and detaches the simulated devices. */
  close(): Promise<void>;
}

export interface CreateUiMachineOptions {
  readonly trace$?: Observable<FrameTrace>;
  /** A fresh virtual clock to run on (default: a new one). */
  readonly clock?: VirtualClock;
  /** Overrides `config.sim.seed`. */
  readonly seed?: number;
  readonly logger?: Logger;
}

/** A UI machine on an existing session (the session is closed with it). */
export function fromSession(session: SimSession, trace$?: Observable<FrameTrace>): UiMachine {
  return {
    config: session.config,
    clock: session.clock,
    controller: session.controller,
    sim: session.sim,
    ...(trace$ ? { trace$ } : {}),
    history: [...session.log],
    exec: async (line) => {
      const r = await session.exec(line);
      return { ok: r.ok, output: r.output };
    },
    // The UI's own clock drives the vend; the result shows in the event log and the bin.
    testVend: async (column) => {
      session.controller.send({ type: 'SERVICE_TEST_VEND', column });
      return 'turning the spiral (watch the bin)';
    },
    close: () => session.close(),
  };
}

/** Builds clock + simulated machine + controller for `config`, started and at rest. */
export async function createUiMachine(config: MachineConfig, opts: CreateUiMachineOptions = {}): Promise<UiMachine> {
  const session = await SimSession.start({
    config,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  return fromSession(session, opts.trace$);
}
