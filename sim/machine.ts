/**
 * The whole simulated machine: one world, the fake devices on it, and the fault injector, all on
 * the injected clock. `ports` is what the controller gets; `devices` are the same objects with their
 * customer and service methods (insertCoin, tapCard, press, open, ...).
 *
 * Like real MDB peripherals after reset, the coin and bill acceptors start with every type disabled
 * and the card reader starts disabled: the controller enables them. Timing is exact (from
 * `config.sim.timing`); the seeded `random` is for drivers such as random customers.
 */
import type { Clock } from '../src/clock.ts';
import type { MachineConfig } from '../src/config/schema.ts';
import type { MachinePorts } from '../src/ports/index.ts';
import type { SimDeps } from './devices/base.ts';
import { SimBillValidator } from './devices/bill.ts';
import { SimCashless } from './devices/card.ts';
import { SimCoinMech } from './devices/coin.ts';
import { SimDispenser } from './devices/dispenser.ts';
import { SimDisplay } from './devices/display.ts';
import { SimDoor } from './devices/door.ts';
import { SimDropSensor } from './devices/drop.ts';
import { SimKeypad } from './devices/keypad.ts';
import { Faults } from './faults.ts';
import { createRandom, type Random } from './random.ts';
import { World } from './world.ts';

export interface SimDevices {
  readonly coin: SimCoinMech;
  /** Absent when `config.devices.bill.present` is false. */
  readonly bill?: SimBillValidator;
  /** Absent when `config.devices.card.present` is false. */
  readonly card?: SimCashless;
  readonly keypad: SimKeypad;
  readonly display: SimDisplay;
  readonly door: SimDoor;
  readonly dispenser: SimDispenser;
  readonly drop: SimDropSensor;
}

export interface SimMachine {
  readonly config: MachineConfig;
  readonly clock: Clock;
  readonly world: World;
  readonly ports: MachinePorts;
  readonly devices: SimDevices;
  readonly faults: Faults;
  readonly random: Random;
  /** Unsubscribes the devices from the fault injector. */
  dispose(): void;
}

export interface SimMachineOptions {
  /** Overrides `config.sim.seed`. */
  readonly seed?: number;
}

export function createSimMachine(config: MachineConfig, clock: Clock, opts: SimMachineOptions = {}): SimMachine {
  const world = new World(config);
  const faults = new Faults(clock, { coins: config.currency.coins, columns: config.catalog.slots.map((s) => s.code) });
  const deps: SimDeps = { world, clock, faults, config };

  const drop = new SimDropSensor(deps);
  const devices: SimDevices = {
    coin: new SimCoinMech(deps),
    bill: config.devices.bill.present ? new SimBillValidator(deps) : undefined,
    card: config.devices.card.present ? new SimCashless(deps) : undefined,
    keypad: new SimKeypad(deps),
    display: new SimDisplay(deps),
    door: new SimDoor(deps),
    dispenser: new SimDispenser(deps, drop),
    drop,
  };

  const ports: MachinePorts = {
    coin: devices.coin,
    ...(devices.bill ? { bill: devices.bill } : {}),
    ...(devices.card ? { card: devices.card } : {}),
    keypad: devices.keypad,
    display: devices.display,
    dispenser: devices.dispenser,
    drop: devices.drop,
    door: devices.door,
  };

  return {
    config,
    clock,
    world,
    ports,
    devices,
    faults,
    random: createRandom(opts.seed ?? config.sim.seed),
    dispose: () => {
      for (const d of Object.values(devices)) d?.dispose();
    },
  };
}
