/**
 * What every fake device shares: its name, a replaying link state driven by the `offline <device>`
 * fault, and the dependencies (world, clock, config timing, faults).
 *
 * The fakes stand for adapter + device: an adapter re-initialises a device after a reconnect, so
 * settings such as acceptance lists survive an offline spell here.
 */
import { BehaviorSubject, Subscription, type Observable } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { DeviceError, ONLINE, type Device, type DeviceErrorCode, type LinkState } from '../../src/ports/index.ts';
import type { FaultChange, Faults, SimDeviceName } from '../faults.ts';
import type { World } from '../world.ts';

export interface SimDeps {
  readonly world: World;
  readonly clock: Clock;
  readonly faults: Faults;
  readonly config: MachineConfig;
}

export type SimTiming = MachineConfig['sim']['timing'];

export abstract class SimDevice implements Device {
  readonly link$: Observable<LinkState>;
  protected readonly world: World;
  protected readonly clock: Clock;
  protected readonly faults: Faults;
  protected readonly config: MachineConfig;
  protected readonly timing: SimTiming;
  private readonly link: BehaviorSubject<LinkState>;
  private readonly subscriptions = new Subscription();

  constructor(
    readonly name: SimDeviceName,
    deps: SimDeps,
  ) {
    this.world = deps.world;
    this.clock = deps.clock;
    this.faults = deps.faults;
    this.config = deps.config;
    this.timing = deps.config.sim.timing;
    const offline = deps.faults.has('offline', (f) => f.device === name);
    this.link = new BehaviorSubject<LinkState>(offline ? offlineState() : ONLINE);
    this.link$ = this.link.asObservable();
    this.subscriptions.add(deps.faults.changes$.subscribe((change) => this.handleFault(change)));
  }

  get online(): boolean {
    return this.link.getValue().status === 'online';
  }

  /** Stop listening to faults (the machine is being thrown away). */
  dispose(): void {
    this.subscriptions.unsubscribe();
  }

  /** Subclasses react to faults with an immediate physical effect here. */
  protected onFault(_change: FaultChange): void {}

  /** Called after the link went offline (false) or came back (true). */
  protected onLinkChange(_online: boolean): void {}

  protected assertOnline(): void {
    if (!this.online) throw this.error('DEVICE_OFFLINE', 'device is offline');
  }

  protected error(code: DeviceErrorCode, message: string, detail?: unknown): DeviceError {
    return new DeviceError(code, this.name, message, detail);
  }

  private handleFault(change: FaultChange): void {
    const f = change.fault;
    if (f.name === 'offline' && f.device === this.name && change.kind !== 'consumed') {
      const goOnline = change.kind === 'cleared';
      if (goOnline === this.online) return;
      this.link.next(goOnline ? ONLINE : offlineState());
      this.onLinkChange(goOnline);
      return;
    }
    this.onFault(change);
  }
}

function offlineState(): LinkState {
  return { status: 'offline', reason: 'fault injected: offline' };
}

export function isPositiveWhole(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}
