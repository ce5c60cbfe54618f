import { describe, it, expect } from 'vitest';
import { EmulatorBinding } from '../../../sim/wire/binding.ts';
import { RecordingEmulator } from './helpers.ts';

const open = (b: EmulatorBinding, path: string) => b.open({ path, baudRate: 115200 });
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('EmulatorBinding', () => {
  it('lists registered, plugged emulators with their USB ids', async () => {
    const b = new EmulatorBinding();
    b.register(new RecordingEmulator('/dev/a', '16d0', '0bd7', 'S1'));
    b.register(new RecordingEmulator('/dev/b'));
    expect(await b.list()).toEqual([
      { path: '/dev/a', vendorId: '16d0', productId: '0bd7', serialNumber: 'S1', manufacturer: undefined, pnpId: undefined, locationId: undefined },
      { path: '/dev/b', vendorId: undefined, productId: undefined, serialNumber: undefined, manufacturer: undefined, pnpId: undefined, locationId: undefined },
    ]);
    b.unplug('/dev/a');
    expect((await b.list()).map((p) => p.path)).toEqual(['/dev/b']);
    b.replug('/dev/a');
    expect((await b.list()).map((p) => p.path)).toEqual(['/dev/a', '/dev/b']);
    expect(() => b.register(new RecordingEmulator('/dev/b'))).toThrow(/already registered/);
  });

  it('refuses unknown, unplugged and locked ports and bad options', async () => {
    const b = new EmulatorBinding();
    b.register(new RecordingEmulator('/dev/a'));
    await expect(open(b, '/dev/zz')).rejects.toThrow(/No such file/);
    const p = await open(b, '/dev/a');
    await expect(open(b, '/dev/a')).rejects.toThrow(/lock/);
    await p.close();
    const again = await open(b, '/dev/a');
    expect(again.isOpen).toBe(true);
    await again.close();
    b.unplug('/dev/a');
    await expect(open(b, '/dev/a')).rejects.toThrow(/No such file/);
    await expect(b.open({ path: '', baudRate: 9600 })).rejects.toThrow(TypeError);
  });

  it('moves bytes: writes reach the emulator, device bytes satisfy reads in order and in pieces', async () => {
    const b = new EmulatorBinding();
    const emu = new RecordingEmulator('/dev/a');
    b.register(emu);
    const port = await open(b, '/dev/a');
    expect(emu.attached).toBe(true);
    await port.write(Buffer.from('hello'));
    await tick();
    expect(emu.text()).toBe('hello');
    emu.say('abcdef');
    const buf = Buffer.alloc(4);
    const r1 = await port.read(buf, 0, 4);
    expect(buf.subarray(0, r1.bytesRead).toString()).toBe('abcd');
    const r2 = await port.read(buf, 0, 4);
    expect(buf.subarray(0, r2.bytesRead).toString()).toBe('ef');
    const pending = port.read(buf, 0, 4);
    emu.say('z');
    expect((await pending).bytesRead).toBe(1);
    expect(await port.getBaudRate()).toEqual({ baudRate: 115200 });
    await port.close();
    expect(emu.detaches).toBe(1);
  });

  it('a close cancels the pending read (canceled: true); an unplug fails it as a disconnect', async () => {
    const b = new EmulatorBinding();
    b.register(new RecordingEmulator('/dev/a'));
    const p1 = await open(b, '/dev/a');
    const r1 = p1.read(Buffer.alloc(8), 0, 8);
    await p1.close();
    await expect(r1).rejects.toMatchObject({ canceled: true });
    await expect(p1.write(Buffer.from('x'))).rejects.toMatchObject({ canceled: true });

    const p2 = await open(b, '/dev/a');
    const r2 = p2.read(Buffer.alloc(8), 0, 8);
    b.unplug('/dev/a');
    await expect(r2).rejects.toMatchObject({ canceled: false, code: 'EIO' });
    await expect(p2.write(Buffer.from('x'))).rejects.toMatchObject({ code: 'EIO' });
    expect(b.openPort('/dev/a')).toBe(p2); // still open until the stream closes it
    await p2.close();
    expect(b.openPort('/dev/a')).toBeUndefined();
  });
});
