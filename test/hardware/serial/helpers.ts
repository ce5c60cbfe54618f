/** Small helpers shared by the serial tests: a recording emulator and an rxjs value collector. */
import type { Observable } from 'rxjs';
import type { WireEmulator } from '../../../sim/wire/binding.ts';

/** Records what the host wrote; `say()` sends bytes to the host while attached. */
export class RecordingEmulator implements WireEmulator {
  readonly received: Uint8Array[] = [];
  attaches = 0;
  detaches = 0;
  private send: ((b: Uint8Array) => void) | undefined;

  constructor(
    readonly path: string,
    readonly vendorId?: string,
    readonly productId?: string,
    readonly serialNumber?: string,
  ) {}

  attach(send: (bytes: Uint8Array) => void): void {
    this.attaches++;
    this.send = send;
  }

  detach(): void {
    this.detaches++;
    this.send = undefined;
  }

  onData(bytes: Uint8Array): void {
    this.received.push(bytes);
  }

  get attached(): boolean {
    return this.send !== undefined;
  }

  say(text: string | Uint8Array): void {
    this.send?.(typeof text === 'string' ? new TextEncoder().encode(text) : text);
  }

  text(): string {
    return this.received.map((b) => Buffer.from(b).toString('latin1')).join('');
  }
}

/** Collect every value an observable emits (subscription kept open for the test). */
export function collect<T>(obs: Observable<T>): T[] {
  const out: T[] = [];
  obs.subscribe((v) => out.push(v));
  return out;
}
