/** The simulator session's command interpreter: each command, the settling rule, and bad input. */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { COMMAND_HELP, SimSession, demoConfigPath, demoConfigRaw, parseCommand, parseDuration } from '../../sim/session.ts';
import { mergeConfig } from '../../sim/scenario.ts';

const open: SimSession[] = [];

async function session(overrides?: unknown): Promise<SimSession> {
  const config = overrides === undefined ? undefined : parseConfig(mergeConfig(demoConfigRaw(), overrides), 'test');
  const s = await SimSession.start(config ? { config } : {});
  open.push(s);
  return s;
}

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function types(r: { events: readonly { event: { type: string } }[] }): string[] {
  return r.events.map((e) => e.event.type).filter((t) => t !== 'tubesRead');
}

describe('demoConfigPath', () => {
  it('points at the demo machine next to the module', () => {
    expect(demoConfigPath()).toMatch(/sim[/\\]machines[/\\]demo\.yaml$/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['3s', 3000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['250', 250],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['soon', '3 s', '5x', '', 's', '-3s'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });
});

describe('parseCommand', () => {
  it('reads keys for press, letters and digits one by one', () => {
    expect(parseCommand('press A1')).toEqual({ ok: true, command: { kind: 'press', keys: ['A', '1'] } });
    expect(parseCommand('press clear b2')).toEqual({ ok: true, command: { kind: 'press', keys: ['CLEAR', 'B', '2'] } });
    expect(parseCommand('PRESS RETURN')).toEqual({ ok: true, command: { kind: 'press', keys: ['RETURN'] } });
  });

  it('reads fault options at/in/once', () => {
    expect(parseCommand('fault motor-stall a1 at 5s once')).toEqual({
      ok: true,
      command: { kind: 'fault', spec: { name: 'motor-stall', column: 'A1' }, at: 5000, once: true },
    });
    expect(parseCommand('fault offline bill in 2m')).toEqual({ ok: true, command: { kind: 'fault', spec: { name: 'offline', device: 'bill' }, in: 120_000 } });
  });

  it('treats blank lines and comments as nothing', () => {
    expect(parseCommand('   ')).toEqual({ ok: true, command: { kind: 'nothing' } });
    expect(parseCommand('# a comment')).toEqual({ ok: true, command: { kind: 'nothing' } });
  });

  it.each([
    ['frobnicate', /unknown command 'frobnicate'.*help/],
    ['cion 50', /unknown command 'cion' \(did you mean coin\?\).*help/],
    ['coin', /coin: expected `coin <value>`/],
    ['coin 1 2', /coin: expected `coin <value>`/],
    ['press', /press: which keys\?/],
    ['press Z9', /no key 'Z'/],
    ['door ajar', /door: expected `door open` or `door close`/],
    ['wait', /wait: expected/],
    ['wait soon', /wait: cannot read 'soon' as a duration/],
    ['fault', /fault: which fault\?/],
    ['fault bogus', /unknown fault 'bogus'/],
    ['fault motor-stall', /motor-stall takes 1 parameter/],
    ['fault motor-stall A1 at', /'at' needs a duration/],
    ['fault offline coin at 1s in 2s', /either 'at <time>' or 'in <delay>'/],
    ['clear', /clear: what\?/],
    ['clear tube-empty fifty', /not a coin value/],
    ['service', /service: expected one of `service clear-faults`, .*`service payout/],
    ['service settle-debt maybe', /service: expected one of/],
    ['service refill Z1', /service: expected one of/],
    ['service payout fifty', /service payout: 'fifty' is not <coin>x<count>/],
    ['take 3', /take: expected `take`/],
    ['card remove now', /card: expected/],
  ])('%j → a clear error', (line, message) => {
    const r = parseCommand(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});

describe('SimSession.exec', () => {
  it('starts at rest on the demo machine with the idle display', async () => {
    const s = await session();
    expect(s.display).toEqual(['INSERT MONEY', 'OR TAP CARD']);
    expect(s.view().state).toBe('idle');
    expect(s.atRest()).toBe(true);
  });

  it('coin takes minor units, money and money with the symbol, and settles after validation', async () => {
    const s = await session();
    const a = await s.exec('coin 50');
    expect(a).toMatchObject({ ok: true, startedAt: 0, at: 300, output: ['coin €0.50: accepted (to the tube)'] });
    expect(types(a)).toEqual(['coinInserted']);
    await s.exec('coin 0.20');
    await s.exec('coin €0.10');
    expect(s.view().credit).toBe(80);
    expect(s.display).toEqual(['CREDIT €0.80', 'MAKE SELECTION']);
  });

  it('coin with bad money is an error naming the value; nothing is inserted', async () => {
    const s = await session();
    const r = await s.exec('coin 1,20');
    expect(r.ok).toBe(false);
    expect(r.output[0]).toMatch(/^coin: cannot read "1,20" as EUR money/);
    expect(r.at).toBe(0);
    const z = await s.exec('coin 0');
    expect(z.ok).toBe(false);
    expect(z.output[0]).toContain('worth more than');
  });

  it('bill goes through escrow to the stacker before it is credit', async () => {
    const s = await session();
    const r = await s.exec('bill 5.00');
    expect(r.ok).toBe(true);
    expect(types(r)).toEqual(['billEscrowed', 'billStacked']);
    expect(r.at).toBe(1500 + 800);
    expect(s.view().credit).toBe(500);
  });

  it('bill and card say so on a machine without them', async () => {
    const s = await session({ devices: { bill: { present: false }, card: { present: false } } });
    expect((await s.exec('bill 500')).output).toEqual(['bill: this machine has no bill validator']);
    expect((await s.exec('card')).output).toEqual(['card: this machine has no card reader']);
    expect((await s.exec('card remove')).ok).toBe(false);
  });

  it('card taps with the default or a given balance; card remove ends the session', async () => {
    const s = await session();
    const r = await s.exec('card 5.00');
    expect(r.output).toEqual(['card tapped (balance €5.00)']);
    expect(s.display).toEqual(['CARD €5.00', 'MAKE SELECTION']);
    const gone = await s.exec('card remove');
    expect(gone.output).toEqual(['card removed']);
    expect(types(gone)).toContain('cardSessionEnded');
    expect(s.view().state).toBe('idle');
    const d = await s.exec('card');
    expect(d.output).toEqual(['card tapped (balance €20.00)']);
  });

  it('press vends and runs until the change is paid (the settling rule)', async () => {
    const s = await session();
    await s.exec('coin 200');
    const r = await s.exec('press A1');
    expect(r.output).toEqual(['pressed A1']);
    expect(types(r)).toEqual(['vendStarted', 'vendSucceeded', 'stockChanged', 'payoutPlanned', 'payoutDone']);
    expect(s.atRest()).toBe(true);
    // The 3 s message is not waited for: the transcript shows it.
    expect(r.display).toEqual(['THANK YOU', 'TAKE PRODUCT']);
    expect(s.view().bin).toEqual([{ column: 'A1', product: 'Crisps Salted' }]);
  });

  it('press CLEAR drops a half-typed selection; press RETURN refunds', async () => {
    const s = await session();
    await s.exec('coin 100');
    await s.exec('press A');
    expect(s.display).toEqual(['CREDIT €1.00', 'SELECT A_']);
    await s.exec('press CLEAR');
    expect(s.display).toEqual(['CREDIT €1.00', 'MAKE SELECTION']);
    const r = await s.exec('press RETURN');
    expect(types(r)).toEqual(['payoutPlanned', 'payoutDone']);
    expect(s.view().cup).toEqual({ 100: 1 });
  });

  it('return pulls the coin-return lever; offline it is not heard', async () => {
    const s = await session();
    await s.exec('coin 50');
    await s.exec('fault offline coin');
    const deaf = await s.exec('return');
    expect(deaf.output[0]).toContain('offline');
    expect(s.view().credit).toBe(50);
    await s.exec('clear offline coin');
    const r = await s.exec('return');
    expect(r.output).toEqual(['coin return pressed']);
    expect(s.view().credit).toBe(0);
  });

  it('door open and close switch service mode', async () => {
    const s = await session();
    const o = await s.exec('door open');
    expect(o.output).toEqual(['door opened']);
    expect(s.view().state).toBe('service');
    await s.exec('door close');
    expect(s.view().state).toBe('idle');
  });

  it('wait advances the virtual clock exactly, with no settling', async () => {
    const s = await session();
    await s.exec('coin 100');
    await s.exec('press A1');
    expect(s.display).toEqual(['A1 PRICE', '€1.20']);
    const r = await s.exec('wait 2999ms');
    expect(r.at - r.startedAt).toBe(2999);
    expect(s.display).toEqual(['A1 PRICE', '€1.20']);
    await s.exec('wait 1ms');
    expect(s.display).toEqual(['CREDIT €1.00', 'MAKE SELECTION']);
  });

  it('fault injects now, at a virtual time, after a delay, or once', async () => {
    const s = await session();
    expect((await s.exec('fault offline bill')).output).toEqual(['fault offline bill injected']);
    expect((await s.exec('fault offline card at 10s')).output).toEqual(['fault offline card scheduled at 10.000s']);
    expect((await s.exec('fault drop-blind in 1s once')).output).toEqual(['fault drop-blind (once) scheduled at 1.000s']);
    expect(s.view().injected).toEqual(['offline bill']);
    await s.exec('wait 10s');
    expect(s.view().injected).toEqual(['offline bill', 'drop-blind (once)', 'offline card']);
    const bad = await s.exec('fault motor-stall J9');
    expect(bad.ok).toBe(false);
    expect(bad.output[0]).toMatch(/fault: .*no column J9/);
  });

  it('clear removes by spec, by name or all, and says when nothing matched', async () => {
    const s = await session();
    await s.exec('fault tube-empty 50');
    await s.exec('fault tube-empty 20');
    await s.exec('fault coin-jam');
    expect((await s.exec('clear tube-empty 50')).output).toEqual(['cleared 1 fault']);
    expect((await s.exec('clear tube-empty')).output).toEqual(['cleared 1 fault']);
    expect((await s.exec('clear all')).output).toEqual(['cleared 1 fault']);
    expect((await s.exec('clear offline')).output).toEqual(["clear: no injected fault matches 'offline'"]);
    expect(s.view().injected).toEqual([]);
  });

  it('service commands need the door open, then clear faults and settle debts', async () => {
    const s = await session();
    await s.exec('fault payout-short 0');
    await s.exec('coin 200');
    await s.exec('press A1');
    expect(s.view().debt).toBe(80);
    const refused = await s.exec('service settle-debt paid');
    expect(refused.ok).toBe(false);
    expect(refused.output[0]).toContain('door open');
    expect(s.view().debt).toBe(80);
    await s.exec('door open');
    const settled = await s.exec('service settle-debt written-off');
    expect(settled.output).toEqual(['service: debt settled (writtenOff)']);
    expect(types(settled)).toEqual(['debtSettled']);
    expect(s.view().debt).toBe(0);
    const cleared = await s.exec('service clear-faults');
    expect(types(cleared)).toContain('serviceAction');
    expect(s.view().faults).toEqual([]);
  });

  it('service refill, price, test-vend and payout drive the service menu and the simulated machine', async () => {
    const s = await session({ catalog: { slots: { A1: { stock: 2 } } } });
    await s.exec('door open');
    const test = await s.exec('service test-vend A1');
    expect(test.output).toEqual(['service: test vend on A1']);
    expect(types(test)).toEqual(['vendStarted', 'vendSucceeded', 'stockChanged']);
    expect(s.view().bin).toEqual([{ column: 'A1', product: 'Crisps Salted' }]);
    expect(s.view().stock.A1).toBe(1);
    const refill = await s.exec('service refill A1');
    expect(types(refill)).toEqual(['stockChanged']);
    expect(s.view().stock.A1).toBe(10);
    // The spiral was refilled too: count and machine agree.
    expect(s.sim.world.spirals.get('A1')?.count).toBe(10);
    expect((await s.exec('service price A1 1.50')).output).toEqual(['service: A1 now costs €1.50']);
    const payout = await s.exec('service payout 50x2 20x1');
    expect(payout.output).toEqual(['service: paid out €1.20 (50×2 20×1)']);
    expect(s.view().cup).toEqual({ 50: 2, 20: 1 });
    const refused = await s.exec('service payout 500x1');
    expect(refused.ok).toBe(false);
    expect((await s.exec('service settle-debt paid')).output).toEqual(['service: no debt to settle']);
    await s.exec('take');
    await s.exec('door close');
    await s.exec('wait 3s');
    await s.exec('coin 200');
    const sale = await s.exec('press A1');
    expect(types(sale)).toContain('vendSucceeded');
    expect(s.view().cup).toEqual({ 50: 1 });
  });

  it('take empties the bin and the cup', async () => {
    const s = await session();
    expect((await s.exec('take')).output).toEqual(['took nothing: the bin and the cup are empty']);
    await s.exec('coin 200');
    await s.exec('press A1');
    const r = await s.exec('take');
    expect(r.output).toEqual(['took Crisps Salted (A1); coins €0.80 (50×1 20×1 10×1)']);
    expect(s.view().bin).toEqual([]);
    expect(s.view().cup).toEqual({});
  });

  it('status shows display, state, money, bin, cup, faults and stock without moving time', async () => {
    const s = await session({ catalog: { slots: { A2: { stock: 0 } } } });
    await s.exec('coin 100');
    await s.exec('fault offline card');
    const r = await s.exec('status');
    expect(r.at).toBe(r.startedAt);
    const text = r.output.join('\n');
    expect(text).toContain('│CREDIT €1.00    │');
    expect(text).toMatch(/state\s+session/);
    expect(text).toMatch(/credit\s+€1.00\s+debt €0.00/);
    expect(text).toMatch(/bin\s+empty/);
    expect(text).toMatch(/injected: offline card/);
    expect(text).toContain('sold out: A2');
  });

  it('help lists every command', async () => {
    const s = await session();
    const r = await s.exec('help');
    for (const [usage] of COMMAND_HELP) expect(r.output.join('\n')).toContain(usage);
    expect(r.output.join('\n')).toContain('quit');
  });

  it('unknown input names the command and suggests help, without moving time', async () => {
    const s = await session();
    const r = await s.exec('dance');
    expect(r).toMatchObject({ ok: false, at: 0, events: [] });
    expect(r.output).toEqual(["unknown command 'dance'; type `help` for the list of commands"]);
  });

  it('never throws, whatever the input (property, seeded)', async () => {
    const s = await session();
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 30 }), async (line) => {
        const r = await s.exec(line);
        expect(typeof r.ok).toBe('boolean');
        for (const l of r.output) expect(l).not.toMatch(/\n\s+at /);
      }),
      { seed: 20240611, numRuns: 150 },
    );
  });

  it('refuses commands after close', async () => {
    const s = await session();
    await s.close();
    const r = await s.exec('coin 50');
    expect(r).toMatchObject({ ok: false, output: ['the session is closed'] });
  });
});
