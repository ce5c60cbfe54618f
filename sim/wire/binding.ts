/**
 * `EmulatorBinding`: a serialport `BindingInterface` whose ports are wire-level device emulators, so
 * the real `SerialLink` (and everything above it) runs unchanged against simulated hardware. This is
 * the "device back end behind a mock port" that serialport#2734 asks for (field-notes.md §4).
 *
 * An emulator is small: a path (plus optional USB ids for `list()`), `attach(send)` when the host
 * opens the port, `detach()` when it closes, and `onData(bytes)` for what the host wrote. Timing is
 * the emulator's business (it has the shared Clock); the binding only moves bytes.
 *
 * Faults: `unplug(path)` fails the open port the way a yanked USB adapter does (the pending read
 * rejects with a non-`canceled` error, so SerialPortStream reports a disconnect) and drops the port
 * from `list()`; `replug(path)` brings it back.
 */
import type {
  BindingInterface,
  BindingPortInterface,
  OpenOptions,
  PortInfo,
  PortStatus,
  SetOptions,
  UpdateOptions,
} from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };

export interface WireEmulator {
  /** Port path, e.g. "/dev/ttyACM0". Unique per binding. */
  readonly path: string;
  /** USB ids as lower-case hex without 0x (e.g. "16d0"), shown by `list()`. */
  readonly vendorId?: string;
  readonly productId?: string;
  readonly manufacturer?: string;
  readonly serialNumber?: string;
  /** The host opened the port: `send` delivers bytes to the host until `detach`. */
  attach(send: (bytes: Uint8Array) => void): void;
  /** The host closed the port or it was unplugged. */
  detach(): void;
  /** Bytes the host wrote, in order. */
  onData(bytes: Uint8Array): void;
}

/** Error shape serialport's stream understands (`canceled` = closed on purpose). */
class BindingError extends Error {
  constructor(
    message: string,
    readonly canceled = false,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface PendingRead {
  readonly buffer: Buffer;
  readonly offset: number;
  readonly length: number;
  readonly resolve: (r: { buffer: Buffer; bytesRead: number }) => void;
  readonly reject: (e: Error) => void;
}

export class EmulatedPort implements BindingPortInterface {
  isOpen = true;
  private unplugged = false;
  private rx: Buffer[] = [];
  private pending: PendingRead | undefined;
  private baudRate: number;

  constructor(
    readonly openOptions: Required<OpenOptions>,
    private readonly emulator: WireEmulator,
    private readonly onClosed: (port: EmulatedPort) => void,
  ) {
    this.baudRate = openOptions.baudRate;
    emulator.attach((bytes) => this.fromDevice(bytes));
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (!this.isOpen) return Promise.reject(new BindingError('Port is not open', true));
    if (this.unplugged) return Promise.reject(new BindingError('device disconnected (EIO)', false, 'EIO'));
    if (this.pending) return Promise.reject(new BindingError('a read is already pending'));
    return new Promise((resolve, reject) => {
      this.pending = { buffer, offset, length, resolve, reject };
      this.serveRead();
    });
  }

  write(buffer: Buffer): Promise<void> {
    if (!this.isOpen) return Promise.reject(new BindingError('Port is not open', true));
    if (this.unplugged) return Promise.reject(new BindingError('device disconnected (EIO)', false, 'EIO'));
    const copy = new Uint8Array(buffer);
    // Delivered after the write resolves, as a real UART hands bytes on asynchronously.
    queueMicrotask(() => {
      if (this.isOpen && !this.unplugged) this.emulator.onData(copy);
    });
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (!this.isOpen) throw new BindingError('Port is not open');
    this.isOpen = false;
    this.rx = [];
    const p = this.pending;
    this.pending = undefined;
    p?.reject(new BindingError('port is closed', true));
    if (!this.unplugged) this.emulator.detach();
    this.onClosed(this);
  }

  async update(options: UpdateOptions): Promise<void> {
    if (!this.isOpen) throw new BindingError('Port is not open');
    this.baudRate = options.baudRate;
  }

  async set(_options: SetOptions): Promise<void> {
    if (!this.isOpen) throw new BindingError('Port is not open');
  }

  async get(): Promise<PortStatus> {
    if (!this.isOpen) throw new BindingError('Port is not open');
    return { cts: true, dsr: true, dcd: false };
  }

  async getBaudRate(): Promise<{ baudRate: number }> {
    if (!this.isOpen) throw new BindingError('Port is not open');
    return { baudRate: this.baudRate };
  }

  async flush(): Promise<void> {
    if (!this.isOpen) throw new BindingError('Port is not open');
    this.rx = [];
  }

  async drain(): Promise<void> {
    if (!this.isOpen) throw new BindingError('Port is not open');
  }

  /** Yank the cable: the read in progress fails as a disconnect (not a cancel). */
  unplug(): void {
    if (this.unplugged || !this.isOpen) return;
    this.unplugged = true;
    this.emulator.detach();
    const p = this.pending;
    this.pending = undefined;
    p?.reject(new BindingError('device disconnected (EIO)', false, 'EIO'));
  }

  private fromDevice(bytes: Uint8Array): void {
    if (!this.isOpen || this.unplugged || bytes.length === 0) return;
    this.rx.push(Buffer.from(bytes));
    this.serveRead();
  }

  private serveRead(): void {
    const p = this.pending;
    if (!p || this.rx.length === 0) return;
    this.pending = undefined;
    let n = 0;
    while (n < p.length && this.rx.length > 0) {
      const head = this.rx[0];
      if (!head) break;
      const take = Math.min(head.length, p.length - n);
      head.copy(p.buffer, p.offset + n, 0, take);
      n += take;
      if (take === head.length) this.rx.shift();
      else this.rx[0] = head.subarray(take);
    }
    p.resolve({ buffer: p.buffer, bytesRead: n });
  }
}

export class EmulatorBinding implements BindingInterface<EmulatedPort> {
  private readonly emulators = new Map<string, { emulator: WireEmulator; plugged: boolean }>();
  private readonly open_ = new Map<string, EmulatedPort>();

  /** Make an emulator available at its path (plugged in). */
  register(emulator: WireEmulator): void {
    if (this.emulators.has(emulator.path)) throw new Error(`an emulator is already registered at ${emulator.path}`);
    this.emulators.set(emulator.path, { emulator, plugged: true });
  }

  /** Remove an emulator (unplugging it first if open). */
  unregister(path: string): void {
    this.unplug(path);
    this.emulators.delete(path);
  }

  /** Simulate pulling the USB cable: the open port fails, `list()` no longer shows it. */
  unplug(path: string): void {
    const e = this.emulators.get(path);
    if (e) e.plugged = false;
    this.open_.get(path)?.unplug();
  }

  /** Plug it back in: `list()` shows it again and `open()` works. */
  replug(path: string): void {
    const e = this.emulators.get(path);
    if (e) e.plugged = true;
  }

  isPlugged(path: string): boolean {
    return this.emulators.get(path)?.plugged ?? false;
  }

  /** The open port at `path`, if any (for tests). */
  openPort(path: string): EmulatedPort | undefined {
    return this.open_.get(path);
  }

  async list(): Promise<PortInfo[]> {
    const out: PortInfo[] = [];
    for (const { emulator: e, plugged } of this.emulators.values()) {
      if (!plugged) continue;
      out.push({
        path: e.path,
        manufacturer: e.manufacturer,
        serialNumber: e.serialNumber,
        pnpId: undefined,
        locationId: undefined,
        vendorId: e.vendorId,
        productId: e.productId,
      });
    }
    return out;
  }

  async open(options: OpenOptions): Promise<EmulatedPort> {
    if (!options || typeof options.path !== 'string' || options.path === '') throw new TypeError('"path" is not a valid port');
    if (typeof options.baudRate !== 'number') throw new TypeError('"baudRate" must be a number');
    const entry = this.emulators.get(options.path);
    if (!entry || !entry.plugged) throw new BindingError(`Error: No such file or directory, cannot open ${options.path}`, false, 'ENOENT');
    const lock = options.lock ?? true;
    if (lock && this.open_.has(options.path)) throw new BindingError('Error Resource temporarily unavailable Cannot lock port', false, 'EBUSY');
    const full: Required<OpenOptions> = {
      dataBits: 8,
      lock: true,
      stopBits: 1,
      parity: 'none',
      rtscts: false,
      xon: false,
      xoff: false,
      xany: false,
      hupcl: true,
      ...options,
    };
    const port = new EmulatedPort(full, entry.emulator, (p) => {
      if (this.open_.get(options.path) === p) this.open_.delete(options.path);
    });
    this.open_.set(options.path, port);
    return port;
  }
}
