import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../../sim/clock.ts';
import { RequestQueue } from '../../../hardware/serial/queue.ts';
import type { AttemptOutcome, QueueRequest, RetryPolicy } from '../../../hardware/serial/queue.ts';
import { DeviceError, isDeviceError } from '../../../src/ports/index.ts';

type Reply = 'ok' | 'nak' | 'bad' | 'other';

function judge(r: Reply): AttemptOutcome<string> | undefined {
  if (r === 'ok') return { ok: true, value: 'done' };
  if (r === 'nak') return { ok: false, reason: 'nak' };
  if (r === 'bad') return { ok: false, reason: 'checksum', detail: 'CHK 12 != 13' };
  return undefined;
}

function harness(policy?: RetryPolicy) {
  const clock = new VirtualClock();
  const q = new RequestQueue<Reply>({ device: 'bus', clock, timeoutMs: 100, policy, settleMs: 20 });
  const sent: { label: string; at: number }[] = [];
  const req = (label: string, extra: Partial<QueueRequest<Reply, string>> = {}): QueueRequest<Reply, string> => ({
    label,
    send: async () => {
      sent.push({ label, at: clock.now() });
    },
    interpret: judge,
    ...extra,
  });
  return { clock, q, sent, req };
}

async function settle<T>(p: Promise<T>): Promise<{ value?: T; error?: DeviceError }> {
  try {
    return { value: await p };
  } catch (e) {
    if (isDeviceError(e)) return { error: e };
    throw e;
  }
}

describe('RequestQueue', () => {
  it('keeps exactly one request outstanding and serves them in order', async () => {
    const { clock, q, sent, req } = harness();
    const a = q.request(req('A'));
    const b = q.request(req('B'));
    await clock.advance(0);
    expect(sent.map((s) => s.label)).toEqual(['A']);
    expect(q.pending).toBe(2);
    expect(q.deliver('ok')).toBe('consumed');
    expect(await a).toBe('done');
    await clock.advance(0);
    expect(sent.map((s) => s.label)).toEqual(['A', 'B']);
    q.deliver('ok');
    expect(await b).toBe('done');
    expect(q.pending).toBe(0);
  });

  it('times out on the clock with DEVICE_TIMEOUT when timeouts are not retried', async () => {
    const { clock, q, req } = harness();
    const p = settle(q.request(req('POLL')));
    await clock.advance(99);
    expect(q.busy).toBe(true);
    await clock.advance(1);
    const r = await p;
    expect(r.error?.code).toBe('DEVICE_TIMEOUT');
    expect(r.error?.detail).toMatchObject({ label: 'POLL', reason: 'timeout', attempts: 1 });
  });

  it('retries a timeout as the policy says, after the settle time', async () => {
    const { clock, q, sent, req } = harness({ retries: 2, retryOn: ['timeout'] });
    const p = q.request(req('POLL'));
    await clock.advance(100); // attempt 1 times out at 100, retry at 120
    await clock.advance(20);
    expect(sent.map((s) => s.at)).toEqual([0, 120]);
    q.deliver('ok');
    expect(await p).toBe('done');
  });

  it('gives up after the retry budget with the last reason', async () => {
    const { clock, q, sent, req } = harness({ retries: 2, retryOn: ['nak'] });
    const p = settle(q.request(req('DISPENSE')));
    for (let i = 0; i < 3; i++) {
      await clock.advance(0);
      q.deliver('nak');
    }
    const r = await p;
    expect(sent).toHaveLength(3);
    expect(r.error?.code).toBe('DEVICE_REJECTED');
    expect(r.error?.detail).toMatchObject({ attempts: 3, reason: 'nak' });
  });

  it('does not retry a reason that is not listed', async () => {
    const { clock, q, sent, req } = harness({ retries: 5, retryOn: ['timeout'] });
    const p = settle(q.request(req('X')));
    await clock.advance(0);
    q.deliver('bad');
    const r = await p;
    expect(sent).toHaveLength(1);
    expect(r.error?.code).toBe('PROTOCOL_ERROR');
    expect(r.error?.message).toMatch(/CHK 12 != 13/);
  });

  it('a per-request policy overrides the queue default', async () => {
    const { clock, q, sent, req } = harness({ retries: 3, retryOn: ['nak'] });
    const p = settle(q.request(req('DISPENSE', { policy: { retries: 0, retryOn: [] } })));
    await clock.advance(0);
    q.deliver('nak');
    expect((await p).error?.code).toBe('DEVICE_REJECTED');
    expect(sent).toHaveLength(1);
  });

  it('honours retryDelayMs between attempts', async () => {
    const { clock, q, sent, req } = harness({ retries: 1, retryOn: ['checksum'], retryDelayMs: 50 });
    const p = q.request(req('X'));
    await clock.advance(0);
    q.deliver('bad');
    await clock.advance(49);
    expect(sent).toHaveLength(1);
    await clock.advance(1);
    expect(sent.map((s) => s.at)).toEqual([0, 50]);
    q.deliver('ok');
    expect(await p).toBe('done');
  });

  it('reports responses that are not for the request in flight as unsolicited', async () => {
    const { clock, q, req } = harness();
    expect(q.deliver('ok')).toBe('unsolicited');
    const p = q.request(req('X'));
    await clock.advance(0);
    expect(q.deliver('other')).toBe('unsolicited');
    expect(q.deliver('ok')).toBe('consumed');
    expect(await p).toBe('done');
  });

  it('drops a late answer after a timeout instead of giving it to the next request', async () => {
    const { clock, q, req } = harness();
    const first = settle(q.request(req('A')));
    await clock.advance(100);
    expect((await first).error?.code).toBe('DEVICE_TIMEOUT');
    expect(q.deliver('ok')).toBe('late');
    await clock.advance(20);
    expect(q.deliver('ok')).toBe('unsolicited');
  });

  it('fails at once, without retry, when the write itself fails', async () => {
    const { clock, q, req } = harness({ retries: 3, retryOn: ['timeout'] });
    const p = settle(
      q.request(
        req('X', {
          send: async () => {
            throw new Error('EIO');
          },
        }),
      ),
    );
    await clock.advance(0);
    const r = await p;
    expect(r.error?.code).toBe('DEVICE_OFFLINE');
    expect(r.error?.message).toMatch(/EIO/);
    expect(clock.pending).toBe(0);
  });

  it('failAll rejects the request in flight and everything queued, then keeps working', async () => {
    const { clock, q, req } = harness();
    const a = settle(q.request(req('A')));
    const b = settle(q.request(req('B')));
    await clock.advance(0);
    q.failAll(new DeviceError('DEVICE_OFFLINE', 'bus', 'link down'));
    expect((await a).error?.code).toBe('DEVICE_OFFLINE');
    expect((await b).error?.code).toBe('DEVICE_OFFLINE');
    const c = q.request(req('C'));
    await clock.advance(0);
    q.deliver('ok');
    expect(await c).toBe('done');
  });
});
