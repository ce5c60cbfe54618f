import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../../sim/clock.ts';
import { EmulatorBinding } from '../../../sim/wire/binding.ts';
import { SerialLink } from '../../../hardware/serial/link.ts';
import { FrameTracer } from '../../../hardware/serial/trace.ts';
import { LineSplitter, MdbBoard, commandLine, parseBoardLine } from '../../../hardware/mdb/board.ts';
import type { MdbBoardOptions, MdbReply, SuspectExchange } from '../../../hardware/mdb/board.ts';
import { POLL_POLICY as POLL } from '../../../hardware/mdb/device.ts';
import { isUnknownOutcome } from '../../../hardware/serial/queue.ts';
import { billCmd, cashlessCmd, changerCmd } from '../../../hardware/mdb/codec.ts';
import { isDeviceError } from '../../../src/ports/index.ts';
import { RecordingEmulator } from '../serial/helpers.ts';

const enc = (s: string) => new TextEncoder().encode(s);

describe('commandLine', () => {
  it('formats R,<addr>[,<data>] in upper-case hex', () => {
    expect(commandLine(changerCmd.poll())).toBe('R,0B');
    const c = changerCmd.coinType(0xffff, 0xffff);
    expect(c.ok && commandLine(c.value)).toBe('R,0C,FFFFFFFF');
    const d = changerCmd.dispense(3, 1);
    expect(d.ok && commandLine(d.value)).toBe('R,0D,13'); // the protocols.md §2.1 example
    expect(commandLine(cashlessCmd.readerEnable())).toBe('R,14,01');
  });
});

describe('parseBoardLine', () => {
  it.each([
    ['p,ACK', { kind: 'p', reply: { kind: 'ack' } }],
    ['p,NACK', { kind: 'p', reply: { kind: 'nack' } }],
    ['p,520a', { kind: 'p', reply: { kind: 'data', bytes: Uint8Array.from([0x52, 0x0a]) } }],
    ['m,ACK', { kind: 'm', ok: true }],
    ['m,NACK', { kind: 'm', ok: false }],
    ['v,4.2.1', { kind: 'v', text: '4.2.1' }],
    ['c,STATUS,IDLE', { kind: 'other', letter: 'c', text: 'STATUS,IDLE' }],
    ['  p,ACK ', { kind: 'p', reply: { kind: 'ack' } }],
  ])('%j', (line, expected) => {
    expect(parseBoardLine(line)).toEqual(expected);
  });

  it.each([
    ['', 'empty line'],
    ['p,', 'p reply of 0 hex digits'],
    ['p,5', 'p reply: odd number of hex digits (1)'],
    ['p,XY', 'p reply: not a hex string'],
    [`p,${'00'.repeat(37)}`, 'p reply of 74 hex digits'],
    ['P,ACK', 'not "<letter>,<payload>"'],
    ['ACK', 'not "<letter>,<payload>"'],
    ['p,AC\u00ff', 'non-ASCII bytes'],
    ['m,maybe', 'm reply "maybe"'],
  ])('garbage: %j', (line, reason) => {
    expect(parseBoardLine(line)).toEqual({ kind: 'garbage', reason });
  });
});

describe('LineSplitter', () => {
  it('splits on LF, CR or CRLF across arbitrary chunks and skips empty lines', () => {
    const s = new LineSplitter();
    expect(s.push(enc('p,A'))).toEqual([]);
    expect(s.push(enc('CK\r\np,NA'))).toEqual([{ kind: 'line', text: 'p,ACK' }]);
    expect(s.push(enc('CK\n\n\rm,ACK\r'))).toEqual([
      { kind: 'line', text: 'p,NACK' },
      { kind: 'line', text: 'm,ACK' },
    ]);
  });

  it('drops an over-long line up to its end and then carries on', () => {
    const s = new LineSplitter(8);
    const ev = s.push(enc('0123456789ABCDEF\np,ACK\n'));
    expect(ev).toEqual([
      { kind: 'overflow', dropped: '01234567' },
      { kind: 'line', text: 'p,ACK' },
    ]);
  });
});

/** A board peer we answer by hand. */
async function scripted(opts: Partial<MdbBoardOptions> = {}) {
  const clock = new VirtualClock();
  const binding = new EmulatorBinding();
  const peer = new RecordingEmulator('/dev/board');
  binding.register(peer);
  const link = new SerialLink({ target: { path: peer.path }, clock, binding, backoff: { initialMs: 100 } });
  const tracer = new FrameTracer();
  // The hand-scripted peer answers at once; the early-line rule has its own test.
  const board = new MdbBoard({ link, clock, tracer, minReplyMs: 0, ...opts });
  board.start();
  await link.open();
  await clock.advance(0);
  // master mode handshake
  expect(peer.text()).toBe('M,1\n');
  await clock.advance(2); // as long as a board takes at least
  peer.say('m,ACK\n');
  await clock.advance(CONFIRM);
  expect(board.online).toBe(true);
  peer.received.length = 0;
  const send = (p: Promise<MdbReply>) => {
    const s: { value?: MdbReply; error?: unknown } = {};
    p.then(
      (v) => (s.value = v),
      (e: unknown) => (s.error = e),
    );
    return s;
  };
  return { clock, binding, peer, link, board, tracer, send };
}

/** A reply is taken once the line stays quiet this long (the board's `confirmMs`, default 3). */
const CONFIRM = 3;

describe('MdbBoard', () => {
  it('sends R lines and returns ACK or data', async () => {
    const t = await scripted();
    const a = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(0);
    expect(t.peer.text()).toBe('R,0B\n');
    t.peer.say('p,ACK\n');
    await t.clock.advance(CONFIRM);
    expect(a.value).toEqual({ kind: 'ack' });
    const b = t.send(t.board.send(changerCmd.poll(), { describe: () => 'coin 2 → tube' }));
    await t.clock.advance(0);
    t.peer.say('p,520A\n');
    await t.clock.advance(CONFIRM);
    expect(b.value).toEqual({ kind: 'data', data: Uint8Array.from([0x52, 0x0a]) });
    expect(t.tracer.recent().at(-1)).toMatchObject({ dir: 'rx', raw: 'p,520A', meaning: 'changer POLL: coin 2 → tube' });
  });

  it('rejects NACK with DEVICE_REJECTED (not retried by default)', async () => {
    const t = await scripted();
    const a = t.send(t.board.send(changerCmd.setup()));
    await t.clock.advance(0);
    t.peer.say('p,NACK\n');
    await t.clock.advance(CONFIRM);
    expect(isDeviceError(a.error) && a.error.code).toBe('DEVICE_REJECTED');
    expect(t.peer.text()).toBe('R,09\n');
  });

  it('retries a missing answer once, then fails with DEVICE_TIMEOUT', async () => {
    const t = await scripted();
    const a = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(1000);
    expect(t.peer.text()).toBe('R,0B\nR,0B\n');
    expect(isDeviceError(a.error) && a.error.code).toBe('DEVICE_TIMEOUT');
  });

  it('a garbled line while a POLL is in flight makes its outcome unknown: not retried, the line after it not taken', async () => {
    const t = await scripted();
    const a = t.send(t.board.send(changerCmd.poll(), { policy: POLL }));
    await t.clock.advance(0);
    t.peer.say('##@@\np,QQ\n\u0001\u0002\np,');
    await t.clock.advance(0);
    expect(a.value).toBeUndefined();
    t.peer.say('0B\n');
    await t.clock.advance(CONFIRM);
    expect(a.value).toBeUndefined(); // one command, several lines: none can be trusted
    await t.clock.advance(20); // the line has been quiet for settleMs
    expect(isUnknownOutcome(a.error)).toBe(true);
    expect(isDeviceError(a.error) && a.error.code).toBe('PROTOCOL_ERROR');
    expect(t.peer.text()).toBe('R,0B\n'); // never re-sent: the board ACKed whatever it was
    const frames = t.tracer.recent().filter((x) => x.dir === 'rx' && x.raw !== 'm,ACK');
    expect(frames.map((x) => x.raw)).toEqual(['##@@', 'p,QQ', '\u0001\u0002', 'p,0B']);
    expect(frames.every((x) => x.error !== undefined && x.meaning === undefined)).toBe(true);
  });

  it('noise glued to the reply ("~p,530B") is not a reply: outcome unknown', async () => {
    for (const noise of ['~', '\u0000']) {
      const t = await scripted();
      const a = t.send(t.board.send(changerCmd.poll(), { policy: POLL }));
      await t.clock.advance(0);
      t.peer.say(`${noise}p,530B\n`);
      await t.clock.advance(CONFIRM + 20);
      expect(isUnknownOutcome(a.error)).toBe(true);
      expect(t.peer.text()).toBe('R,0B\n');
    }
  });

  it('a stray line before the real reply (p,ACK then p,530B; p,5301 then p,ACK): outcome unknown, neither line taken', async () => {
    for (const [first, second] of [
      ['p,ACK', 'p,530B'],
      ['p,5301', 'p,ACK'],
      ['p,530B', 'p,530B'], // a duplicated reply
    ]) {
      const t = await scripted();
      const a = t.send(t.board.send(changerCmd.poll(), { policy: POLL }));
      await t.clock.advance(0);
      t.peer.say(`${first ?? ''}\n`);
      await t.clock.advance(1);
      t.peer.say(`${second ?? ''}\n`);
      await t.clock.advance(CONFIRM + 20);
      expect(a.value).toBeUndefined();
      expect(isUnknownOutcome(a.error)).toBe(true);
    }
  });

  it('a read whose answer cannot be trusted is asked again (harmless to repeat)', async () => {
    const t = await scripted();
    const a = t.send(t.board.send(changerCmd.tubeStatus()));
    await t.clock.advance(0);
    t.peer.say('p,00\np,00\n');
    await t.clock.advance(CONFIRM + 20 + 20); // unknown once quiet, then the retry after a quiet line
    expect(t.peer.text()).toBe('R,0A\nR,0A\n');
    t.peer.say('p,0000\n');
    await t.clock.advance(CONFIRM);
    expect(a.value).toEqual({ kind: 'data', data: Uint8Array.from([0, 0]) });
  });

  it('a line after an exchange ended makes that exchange suspect; after an anomaly the next command waits for a quiet line', async () => {
    const t = await scripted();
    const suspects: SuspectExchange[] = [];
    t.board.suspect$.subscribe((x) => suspects.push(x));
    const a = t.send(t.board.send(changerCmd.poll(), { policy: POLL }));
    await t.clock.advance(0);
    t.peer.say('p,ACK\n'); // a stray line, taken because nothing else came...
    await t.clock.advance(CONFIRM);
    expect(a.value).toEqual({ kind: 'ack' });
    t.peer.say('p,530B\n'); // ... then the real reply: the POLL is suspect
    await t.clock.advance(0);
    expect(suspects).toEqual([expect.objectContaining({ address: 0x0b, label: 'changer POLL' })]);
    t.peer.received.length = 0;
    const b = t.send(t.board.send(changerCmd.poll(), { policy: POLL }));
    await t.clock.advance(5);
    expect(t.peer.text()).toBe(''); // not yet: the line must be quiet first
    await t.clock.advance(20);
    expect(t.peer.text()).toBe('R,0B\n');
    t.peer.say('p,ACK\n');
    await t.clock.advance(CONFIRM);
    expect(b.value).toEqual({ kind: 'ack' });
    // A stray line long after the last exchange suspects nobody.
    await t.clock.advance(5_000);
    t.peer.say('p,5301\n');
    await t.clock.advance(0);
    expect(suspects).toHaveLength(1);
    expect(t.tracer.recent().at(-1)).toMatchObject({ raw: 'p,5301', error: 'unsolicited line' });
  });

  it('a line sooner than an MDB exchange can take is not its answer (a stray while the real one is lost)', async () => {
    const t = await scripted({ minReplyMs: 2 });
    const a = t.send(t.board.send(billCmd.poll(), { policy: POLL }));
    await t.clock.advance(0);
    t.peer.say('p,80\n'); // "bill type 0 stacked", 0 ms after the command: cannot be the answer
    await t.clock.advance(CONFIRM + 20);
    expect(a.value).toBeUndefined();
    expect(isUnknownOutcome(a.error)).toBe(true);
    const b = t.send(t.board.send(billCmd.poll(), { policy: POLL }));
    await t.clock.advance(20);
    await t.clock.advance(2);
    t.peer.say('p,ACK\n');
    await t.clock.advance(CONFIRM);
    expect(b.value).toEqual({ kind: 'ack' });
  });

  it('cashless replies are redacted in the trace: response code and length kept, funds and amounts masked', async () => {
    const t = await scripted();
    const a = t.send(t.board.send(cashlessCmd.poll(), { describe: () => 'begin session' }));
    await t.clock.advance(0);
    t.peer.say('p,0300C8\n');
    await t.clock.advance(CONFIRM);
    expect(a.value).toEqual({ kind: 'data', data: Uint8Array.from([0x03, 0x00, 0xc8]) }); // the driver gets the data
    const rx = t.tracer.recent().filter((x) => x.dir === 'rx');
    expect(rx.at(-1)).toMatchObject({ raw: 'p,03****', meaning: 'cashless POLL: begin session' });
    expect(JSON.stringify(t.tracer.recent())).not.toContain('00C8');
    // other devices' replies stay readable
    const b = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(0);
    t.peer.say('p,530B\n');
    await t.clock.advance(CONFIRM);
    expect(b.value).toBeDefined();
    expect(t.tracer.recent().at(-1)).toMatchObject({ raw: 'p,530B' });
  });

  it("verifies the CHK in 'included' mode: a bad one is retried, a good one stripped", async () => {
    const t = await scripted({ replyChecksum: 'included' });
    const a = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(0);
    t.peer.say('p,520A5D\n'); // CHK should be 5C
    await t.clock.advance(CONFIRM);
    expect(t.peer.text()).toBe('R,0B\nR,0B\n');
    t.peer.say('p,520A5C\n');
    await t.clock.advance(CONFIRM);
    expect(a.value).toEqual({ kind: 'data', data: Uint8Array.from([0x52, 0x0a]) });
    const b = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(0);
    t.peer.say('p,0B0C\n');
    await t.clock.advance(CONFIRM);
    t.peer.say('p,0B0C\n');
    await t.clock.advance(CONFIRM);
    expect(isDeviceError(b.error) && b.error.code).toBe('PROTOCOL_ERROR');
  });

  it('traces unsolicited and late lines without giving them to the next request', async () => {
    const t = await scripted({ timeoutMs: 100, policy: { retries: 0, retryOn: [] } });
    t.peer.say('p,ACK\n'); // nobody asked
    await t.clock.advance(0);
    const a = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(100);
    expect(isDeviceError(a.error) && a.error.code).toBe('DEVICE_TIMEOUT');
    t.peer.say('p,0B\n'); // the late answer
    await t.clock.advance(0);
    const b = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(20);
    t.peer.say('p,ACK\n');
    await t.clock.advance(CONFIRM);
    expect(b.value).toEqual({ kind: 'ack' });
    const errs = t.tracer.recent().map((x) => x.error).filter(Boolean);
    expect(errs).toEqual(['unsolicited line', 'late reply (after timeout), dropped']);
  });

  it('fails the request in flight when the link drops, refuses new ones, and re-arms master mode on reconnect', async () => {
    const t = await scripted();
    const a = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(0);
    t.binding.unplug(t.peer.path);
    await t.clock.advance(0);
    expect(isDeviceError(a.error) && a.error.code).toBe('DEVICE_OFFLINE');
    expect(t.board.state).toMatchObject({ status: 'offline' });
    const b = t.send(t.board.send(changerCmd.poll()));
    await t.clock.advance(0);
    expect(isDeviceError(b.error) && b.error.code).toBe('DEVICE_OFFLINE');
    t.peer.received.length = 0;
    t.binding.replug(t.peer.path);
    await t.clock.advance(100);
    expect(t.peer.text()).toBe('M,1\n');
    t.peer.say('m,ACK\n');
    await t.clock.advance(CONFIRM);
    expect(t.board.online).toBe(true);
  });

  it('sends a bus reset as R,RESET', async () => {
    const t = await scripted();
    let done = false;
    void t.board.busReset().then(() => (done = true));
    await t.clock.advance(0);
    expect(t.peer.text()).toBe('R,RESET\n');
    t.peer.say('p,ACK\n');
    await t.clock.advance(CONFIRM);
    expect(done).toBe(true);
  });
});
