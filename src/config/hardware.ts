/**
 * The `hardware` section of the machine config: which adapter serves each port, where the serial
 * buses are, and each adapter's own option block.
 *
 * The core never imports hardware/, so the adapter option blocks (`mdb`, `cctalk`, `gpio`) are kept
 * as plain objects here and only checked for presence; the composition root (src/cli/hardware.ts)
 * validates each block with its adapter's schema and reports problems under their full path
 * (`hardware.gpio.dispenser.rowPins[2]: ...`). Everything defaults to the simulator, so a config
 * without a `hardware` section (the demo machine) is the all-simulated machine.
 *
 * ```yaml
 * hardware:
 *   coin: mdb            # mdb | cctalk | pulse | sim
 *   bill: mdb            # mdb | sim | none
 *   card: mdb            # mdb | sim | none
 *   keypad: gpio         # gpio | sim (also dispenser, drop, door, display)
 *   serial:
 *     mdb: { path: /dev/ttyACM0 }                                  # or usb: { vendorId: "16d0", productId: "0bd7" }
 *     cctalk: { usb: { vendorId: "067b", productId: "2303" }, baudRate: 9600 }
 *   gpio: { plugin: raspi-io, keypad: { ... }, dispenser: { ... } } # see hardware/gpio/config.ts
 * ```
 */
import { z } from 'zod';
// Type-only: schema.ts will import this module to mount `hardware`, so no runtime import back.
import type { MachineConfig } from './schema.ts';

export const COIN_ADAPTERS = ['mdb', 'cctalk', 'pulse', 'sim'] as const;
export const PAYMENT_ADAPTERS = ['mdb', 'sim', 'none'] as const;
export const PANEL_ADAPTERS = ['gpio', 'sim'] as const;

/** The ports the hardware section assigns, in the order they are reported. */
export const HARDWARE_PORTS = ['coin', 'bill', 'card', 'keypad', 'dispenser', 'drop', 'door', 'display'] as const;
export type HardwarePort = (typeof HARDWARE_PORTS)[number];
export type Adapter = 'mdb' | 'cctalk' | 'pulse' | 'gpio' | 'sim' | 'none';

const usbId = z.string().regex(/^(0x)?[0-9a-fA-F]{1,4}$/, 'must be a USB id in hex, e.g. "16d0"');

/** Where a serial bus is: a fixed path, or a USB adapter found by its ids on every (re)connect. */
export const serialConnectionSchema = z
  .object({
    /** e.g. /dev/ttyACM0, or better a stable /dev/serial/by-id/... link. */
    path: z.string().min(1).optional(),
    usb: z
      .object({ vendorId: usbId, productId: usbId, serialNumber: z.string().min(1).optional() })
      .strict()
      .optional(),
    /** Default: the adapter's (MDB interface board 115200, ccTalk 9600). */
    baudRate: z.number().int().positive().max(4_000_000).optional(),
    /** Poll the port list this often to notice an unplug the OS does not report (0: off). */
    presenceCheckMs: z.number().int().nonnegative().max(3_600_000).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.path === undefined) === (c.usb === undefined))
      ctx.addIssue({ code: 'custom', path: [], message: 'give either path or usb: { vendorId, productId }' });
  });
export type SerialConnection = z.output<typeof serialConnectionSchema>;

/** An adapter's option block: checked by the composition root against the adapter's own schema. */
const optionBlock = z.record(z.string(), z.unknown());

/** GPIO devices each panel port needs in `hardware.gpio` when it is served by GPIO. */
const GPIO_DEVICE_OF: Readonly<Record<'keypad' | 'dispenser' | 'drop' | 'door' | 'display', string>> = {
  keypad: 'keypad',
  dispenser: 'dispenser',
  drop: 'drop',
  door: 'door',
  display: 'lcd',
};

export const hardwareSchema = z
  .object({
    coin: z.enum(COIN_ADAPTERS).default('sim'),
    bill: z.enum(PAYMENT_ADAPTERS).default('sim'),
    card: z.enum(PAYMENT_ADAPTERS).default('sim'),
    keypad: z.enum(PANEL_ADAPTERS).default('sim'),
    dispenser: z.enum(PANEL_ADAPTERS).default('sim'),
    drop: z.enum(PANEL_ADAPTERS).default('sim'),
    door: z.enum(PANEL_ADAPTERS).default('sim'),
    display: z.enum(PANEL_ADAPTERS).default('sim'),
    serial: z
      .object({
        /** Default: the Qibixx MDB-USB by its USB id 16d0:0bd7 (protocols.md §2.1). */
        mdb: serialConnectionSchema.optional(),
        cctalk: serialConnectionSchema.optional(),
      })
      .strict()
      .prefault({}),
    /** MDB options: `board`, `coin`, `bill`, `card` (timeouts, poll rates); see src/cli/hardware.ts. */
    mdb: optionBlock.optional(),
    /** ccTalk options: `bus`, `acceptor`, `hoppers`; see src/cli/hardware.ts. */
    cctalk: optionBlock.optional(),
    /** GPIO wiring (hardware/gpio/config.ts) plus `plugin` (raspi-io | pi-io) and `pluginOptions`. */
    gpio: optionBlock.optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    const cctalk = portsUsing(h, 'cctalk');
    if (cctalk.length > 0 && !h.serial.cctalk)
      ctx.addIssue({ code: 'custom', path: ['serial', 'cctalk'], message: `required: ${cctalk.join(', ')} use${cctalk.length === 1 ? 's' : ''} ccTalk (e.g. { path: /dev/ttyUSB0, baudRate: 9600 })` });
    const gpioPorts = [...portsUsing(h, 'gpio'), ...portsUsing(h, 'pulse')];
    if (gpioPorts.length === 0) return;
    if (!h.gpio) {
      ctx.addIssue({ code: 'custom', path: ['gpio'], message: `required: ${gpioPorts.join(', ')} use${gpioPorts.length === 1 ? 's' : ''} GPIO` });
      return;
    }
    const gpio = h.gpio;
    for (const port of ['keypad', 'dispenser', 'drop', 'door', 'display'] as const) {
      const device = GPIO_DEVICE_OF[port];
      if (h[port] === 'gpio' && gpio[device] === undefined)
        ctx.addIssue({ code: 'custom', path: ['gpio', device], message: `required because hardware.${port} is gpio` });
    }
    if (h.coin === 'pulse' && gpio.coin === undefined)
      ctx.addIssue({ code: 'custom', path: ['gpio', 'coin'], message: 'required because hardware.coin is pulse' });
  });

export type HardwareConfigInput = z.input<typeof hardwareSchema>;
export type HardwareConfig = z.output<typeof hardwareSchema>;

/** The default: every port on the simulator. */
export const ALL_SIM_HARDWARE: HardwareConfig = hardwareSchema.parse({});

/** The ports a given adapter serves, in HARDWARE_PORTS order. */
export function portsUsing(h: Pick<HardwareConfig, HardwarePort>, adapter: Adapter): HardwarePort[] {
  return HARDWARE_PORTS.filter((p) => h[p] === adapter);
}

/** True when at least one port is served by a real adapter (not the simulator, not absent). */
export function usesRealHardware(h: HardwareConfig): boolean {
  return HARDWARE_PORTS.some((p) => h[p] !== 'sim' && h[p] !== 'none');
}

/** "path /dev/ttyACM0" or "USB 16d0:0bd7" for messages. */
export function describeConnection(c: SerialConnection | undefined, fallback = 'USB 16d0:0bd7'): string {
  if (!c) return fallback;
  if (c.path !== undefined) return c.path;
  if (c.usb) return `USB ${c.usb.vendorId}:${c.usb.productId}${c.usb.serialNumber ? ` (serial ${c.usb.serialNumber})` : ''}`;
  return fallback;
}

/**
 * Problems between the hardware section and the rest of the config (one line each, with paths):
 * a bill or card adapter for a device the machine does not have, or none for one it has.
 */
export function crossCheckHardware(config: MachineConfig, h: HardwareConfig): string[] {
  const out: string[] = [];
  for (const d of ['bill', 'card'] as const) {
    const present = config.devices[d].present;
    if (present && h[d] === 'none') out.push(`hardware.${d}: none, but devices.${d}.present is true`);
    if (!present && h[d] !== 'none' && h[d] !== 'sim') out.push(`hardware.${d}: ${h[d]}, but devices.${d}.present is false`);
  }
  return out;
}
