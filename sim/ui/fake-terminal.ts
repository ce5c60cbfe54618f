/**
 * A stand-in terminal for rendering the UI off-screen (benchmarks, captures): a stdout that keeps
 * every frame written and a stdin that accepts raw mode and lets code type into it.
 */
import { EventEmitter } from 'node:events';

export class FakeStdout extends EventEmitter {
  readonly frames: string[] = [];
  readonly isTTY = false;

  constructor(
    readonly columns = 80,
    readonly rows = 24,
  ) {
    super();
  }

  write(chunk: string | Uint8Array): boolean {
    this.frames.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }

  /** The ink streams interface this is used as (only the members ink touches exist). */
  asStream(): NodeJS.WriteStream {
    return this as unknown as NodeJS.WriteStream;
  }
}

export class FakeStdin extends EventEmitter {
  readonly isTTY = true;
  private pending: string | null = null;

  /** Types `text` as if a person pressed the key(s). */
  type(text: string): void {
    this.pending = text;
    this.emit('readable');
    this.emit('data', text);
  }

  read(): string | null {
    const p = this.pending;
    this.pending = null;
    return p;
  }

  setEncoding(): this {
    return this;
  }

  setRawMode(): this {
    return this;
  }

  resume(): this {
    return this;
  }

  pause(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  asStream(): NodeJS.ReadStream {
    return this as unknown as NodeJS.ReadStream;
  }
}
