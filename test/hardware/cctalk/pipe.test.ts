import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../../sim/clock.ts';
import { createLinkPair } from '../../../sim/wire/pipe.ts';
import { isDeviceError, type LinkState } from '../../../src/ports/index.ts';

function collect(link: { data$: { subscribe(fn: (c: Uint8Array) => void): unknown } }): { bytes: number[]; chunks: number[][] } {
  const got = { bytes: [] as number[], chunks: [] as number[][] };
  link.data$.subscribe((c) => {
    got.bytes.push(...c);
    got.chunks.push([...c]);
  });
  return got;
}

describe('createLinkPair (sim/wire/pipe.ts)', () => {
  it('carries bytes both ways, asynchronously', async () => {
    const clock = new VirtualClock();
    const [host, device] = createLinkPair(clock);
    const atDevice = collect(device);
    const atHost = collect(host);
    const sent = host.write(Uint8Array.of(1, 2, 3));
    // Never delivered inside write(): a device answering re-entrantly would reorder the line.
    expect(atDevice.bytes).toEqual([]);
    await sent;
    await device.write('AB');
    await clock.advance(0);
    expect(atDevice.bytes).toEqual([1, 2, 3]);
    expect(atHost.bytes).toEqual([65, 66]);
  });

  it('echo: the host hears its own bytes, the device does not hear its own', async () => {
    const clock = new VirtualClock();
    const [host, device] = createLinkPair(clock, { echo: true });
    const atHost = collect(host);
    const atDevice = collect(device);
    await host.write(Uint8Array.of(2, 0, 1, 0xfe, 0xff));
    await device.write(Uint8Array.of(1, 0, 2, 0, 0xfd));
    await clock.advance(0);
    expect(atHost.bytes).toEqual([2, 0, 1, 0xfe, 0xff, 1, 0, 2, 0, 0xfd]);
    expect(atDevice.bytes).toEqual([2, 0, 1, 0xfe, 0xff]);
  });

  it('per-byte delay: bytes arrive one delay apart, back to back writes queue on the line', async () => {
    const clock = new VirtualClock();
    const [host, device] = createLinkPair(clock, { byteDelayMs: 2, chunkSize: 1 });
    const times: number[] = [];
    device.data$.subscribe(() => times.push(clock.now()));
    await host.write(Uint8Array.of(1, 2));
    await host.write(Uint8Array.of(3));
    await clock.advance(100);
    expect(times).toEqual([2, 4, 6]);
  });

  it('chunkSize splits deliveries', async () => {
    const clock = new VirtualClock();
    const [host, device] = createLinkPair(clock, { chunkSize: 2 });
    const got = collect(device);
    await host.write(Uint8Array.of(1, 2, 3, 4, 5));
    await clock.advance(0);
    expect(got.chunks).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('unplug: both ends offline, writes reject DEVICE_OFFLINE, bytes in flight are lost; replug restores', async () => {
    const clock = new VirtualClock();
    const [host, device] = createLinkPair(clock, { byteDelayMs: 1 });
    const states: LinkState[] = [];
    device.state$.subscribe((s) => states.push(s));
    const got = collect(device);
    await host.write(Uint8Array.of(9, 9, 9));
    host.unplug();
    expect(host.plugged).toBe(false);
    const err = await host.write(Uint8Array.of(1)).catch((e: unknown) => e);
    expect(isDeviceError(err) && err.code).toBe('DEVICE_OFFLINE');
    await clock.advance(10);
    expect(got.bytes).toEqual([]);
    device.replug();
    await clock.advance(10);
    expect(got.bytes).toEqual([]);
    await host.write(Uint8Array.of(7));
    await clock.advance(10);
    expect(got.bytes).toEqual([7]);
    expect(states.map((s) => s.status)).toEqual(['online', 'offline', 'online']);
  });

  it('can start unplugged', async () => {
    const clock = new VirtualClock();
    const [host] = createLinkPair(clock, { unplugged: true });
    const states: LinkState[] = [];
    host.state$.subscribe((s) => states.push(s));
    expect(states).toEqual([{ status: 'offline', reason: 'unplugged' }]);
    await expect(host.write('x')).rejects.toThrow(/unplugged/);
  });

  it('close: that end goes offline for good and completes its streams', async () => {
    const clock = new VirtualClock();
    const [host, device] = createLinkPair(clock);
    let completed = false;
    host.data$.subscribe({ complete: () => (completed = true) });
    await host.close();
    expect(completed).toBe(true);
    await expect(host.write('x')).rejects.toThrow(/closed/);
    // The other end is still plugged (its peer just stopped listening).
    await expect(device.write('x')).resolves.toBeUndefined();
  });

  it('reports every write to onWrite', async () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    const [host, device] = createLinkPair(clock, { onWrite: (from, b) => seen.push(`${from}:${b.length}`) });
    await host.write('abc');
    await device.write('de');
    expect(seen).toEqual(['host:3', 'device:2']);
  });
});
