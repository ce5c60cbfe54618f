/**
 * The frame layout: a pure function from the UI view and the terminal size to lines of styled
 * segments. Every line is exactly `cols` characters wide and there are exactly `rows` lines, so the
 * frame always fits (80×24 at least); ink only paints the segments.
 *
 * Narrow terminals stack the machine's front over the panels; from WIDE_COLS columns on, the panels
 * move to a column on the right. Menus take the panel area (narrow) or the space under the front
 * (wide); help takes the whole middle.
 */
import { formatMoney } from '../../src/money/currency.ts';
import { formatTime } from '../session.ts';
import { KEYS } from './keys.ts';
import { PANEL_ORDER, type GridCell, type LogEntry, type PanelId, type Tone, type UiView } from './view.ts';

export type Color = 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'white' | 'gray' | 'black';

export interface Seg {
  readonly text: string;
  readonly color?: Color;
  readonly bg?: Color;
  readonly bold?: boolean;
  readonly dim?: boolean;
  readonly inverse?: boolean;
}

export type Line = readonly Seg[];

export interface Size {
  readonly cols: number;
  readonly rows: number;
}

/** From this width on, the panels sit to the right of the front. */
export const WIDE_COLS = 130;
/** The smallest terminal the layout is designed for; a smaller one still gets a frame of its size, with less in it. */
export const MIN_SIZE: Size = { cols: 80, rows: 24 };

// ------------------------------------------------------------------ segment helpers

/**
 * Control characters (from a wire trace, a config text) would move the terminal's cursor and wreck
 * the frame: they are shown as '·'.
 */
function visible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(text) ? text.replace(/[\x00-\x1f\x7f]/g, '·') : text;
}

function s(text: string, style: Omit<Seg, 'text'> = {}): Seg {
  return { text: visible(text), ...style };
}

function chars(text: string): string[] {
  return [...text];
}

function width(line: Line): number {
  let n = 0;
  for (const seg of line) n += chars(seg.text).length;
  return n;
}

/** Cuts or pads a line to exactly `w` characters. */
export function fit(line: Line, w: number): Line {
  const out: Seg[] = [];
  let left = w;
  for (const seg of line) {
    if (left <= 0) break;
    const c = chars(seg.text);
    if (c.length <= left) {
      out.push(seg);
      left -= c.length;
    } else {
      out.push({ ...seg, text: c.slice(0, left).join('') });
      left = 0;
    }
  }
  if (left > 0) out.push(s(' '.repeat(left)));
  return out;
}

function padText(text: string, w: number): string {
  const c = chars(text);
  return c.length >= w ? c.slice(0, w).join('') : text + ' '.repeat(w - c.length);
}

/** A block of lines, each exactly `w` wide and `h` high. */
function block(lines: readonly Line[], w: number, h: number): Line[] {
  const out = lines.slice(0, h).map((l) => fit(l, w));
  while (out.length < h) out.push(fit([], w));
  return out;
}

/** Blocks side by side with `gap` spaces between them (each block already has its width). */
function beside(blocks: readonly (readonly Line[])[], gap = 1): Line[] {
  const h = Math.max(0, ...blocks.map((b) => b.length));
  const out: Line[] = [];
  for (let i = 0; i < h; i++) {
    const line: Seg[] = [];
    blocks.forEach((b, j) => {
      if (j > 0 && gap > 0) line.push(s(' '.repeat(gap)));
      line.push(...(b[i] ?? []));
    });
    out.push(line);
  }
  return out;
}

/** Plain text of a frame (no styles), one string per line. */
export function plainLines(frame: readonly Line[]): string[] {
  return frame.map((l) => l.map((seg) => seg.text).join(''));
}

const TONE_COLOR: Readonly<Record<Tone, Color>> = { info: 'white', ok: 'green', warn: 'yellow', error: 'red' };

// ------------------------------------------------------------------ the front

function shortMoney(v: number, view: UiView): string {
  return formatMoney(v, { code: view.currency.code, decimals: view.currency.decimals, symbol: '' });
}

function markOf(c: GridCell): { char: string; color?: Color; dim?: boolean; word: string } {
  if (!c.exists) return { char: ' ', dim: true, word: 'no column' };
  if (c.running) return { char: '*', color: 'cyan', word: 'motor turning' };
  if (!c.enabled) return { char: '-', dim: true, word: 'disabled' };
  if (c.mark === 'jammed') return { char: '#', color: 'magenta', word: 'JAMMED' };
  if (c.mark === 'failed') return { char: '!', color: 'yellow', word: 'FAILED (no drop seen)' };
  if (c.stock <= 0) return { char: '✗', color: 'red', word: 'SOLD OUT' };
  return { char: ' ', word: 'ok' };
}

/**
 * The product grid: column numbers across, row letters down. A cell is "price stock mark", with the
 * product name in front when the cell is wide enough, or on a line of its own when `tall`.
 */
function gridLines(view: UiView, w: number, tall: boolean): Line[] {
  const { rows, cols, cells } = view.grid;
  const label = 2;
  const cellTotal = Math.max(4, Math.min(30, Math.floor((w - label) / cols)));
  const content = cellTotal - 1;
  let priceW = 1;
  for (const row of cells) for (const c of row) if (c.exists) priceW = Math.max(priceW, shortMoney(c.price, view).length);
  const baseW = priceW + 4;
  const nameW = !tall && content >= baseW + 6 ? content - baseW - 1 : 0;
  const entryRow = view.entry.length > 0 ? view.entry.charCodeAt(0) - 65 : -1;

  const header: Seg[] = [s(' '.repeat(label))];
  for (let c = 0; c < cols; c++) header.push(s(padText(String(c + 1), cellTotal), { bold: true }));
  const out: Line[] = [header];
  for (let r = 0; r < rows; r++) {
    const letter = String.fromCharCode(65 + r);
    const rowLabel = s(`${letter} `, { bold: true, ...(r === entryRow ? { inverse: true } : {}) });
    const names: Seg[] = [rowLabel];
    const line: Seg[] = [tall ? s('  ') : rowLabel];
    for (let c = 0; c < cols; c++) {
      const cell = cells[r]?.[c];
      if (!cell) continue;
      const mark = markOf(cell);
      let text: string;
      if (!cell.exists) text = padText('  ·', content);
      else {
        const base = `${shortMoney(cell.price, view).padStart(priceW)} ${String(Math.max(0, cell.stock)).padStart(2)}${mark.char}`;
        text = padText(nameW > 0 ? `${padText(cell.product, nameW)} ${base}` : base, content);
      }
      const focused = view.focus.row === r && view.focus.col === c;
      const style = {
        ...(mark.color ? { color: mark.color } : {}),
        ...(mark.dim ? { dim: true } : {}),
        ...(focused ? { inverse: true } : {}),
        ...(cell.running ? { bold: true } : {}),
      };
      line.push(s(text, style), s(' '));
      if (tall) names.push(s(padText(cell.product, content), { ...(focused ? { inverse: true } : {}), ...(cell.exists ? {} : { dim: true }) }), s(' '));
    }
    if (tall) out.push(names);
    out.push(line);
  }
  return out;
}

function focusLine(view: UiView, w: number): Line {
  const cell = view.grid.cells[view.focus.row]?.[view.focus.col];
  if (!cell?.exists) return [s('▸ '), s(cell ? `${cell.code}: no column here` : '', { dim: true })];
  const mark = markOf(cell);
  const m = formatMoney(cell.price, view.currency);
  const spiral = cell.spiral !== cell.stock ? ` (spiral holds ${cell.spiral})` : '';
  const main: Seg[] = [
    s('▸ '),
    s(`${cell.code} ${cell.product}`, { bold: true }),
    s(`  ${m}  stock ${cell.stock}/${cell.capacity}${spiral}  `),
    s(mark.word, mark.color ? { color: mark.color } : {}),
  ];
  // The legend of the grid marks, as long as the terminal allows.
  for (const legend of ['   Enter buys · ✗ sold out ! failed # jammed * turning', '   ✗ sold out ! failed # jammed * turning', '   ✗ out !fail #jam *turn']) {
    if (width(main) + legend.length <= w) return [...main, s(legend, { dim: true })];
  }
  return main;
}

function frontLines(view: UiView, w: number): Line[] {
  const d = view.display;
  const bar = '─'.repeat(d.cols);
  const lcd: Line[] = [[s(`┌${bar}┐`, { color: 'gray' })]];
  for (let i = 0; i < d.rows; i++) {
    lcd.push([s('│', { color: 'gray' }), s(padText(d.lines[i] ?? '', d.cols), { color: 'green', bold: true }), s('│', { color: 'gray' })]);
  }
  lcd.push([s(`└${bar}┘`, { color: 'gray' })]);
  const infoW = Math.max(0, w - (d.cols + 2) - 2);
  const info: Line[] = [
    [s('Credit ', { bold: true }), s(view.credit, { bold: true, color: 'yellow' }), ...view.extras.map((e) => s(`   ${e}`, { color: 'yellow' }))],
    [s('Bin    ', { bold: true }), s(view.bin, view.bin === 'empty' ? { dim: true } : { color: 'green' })],
    [s('Cup    ', { bold: true }), s(view.cup, view.cup === 'empty' ? { dim: true } : { color: 'green' })],
    [s('Card   ', { bold: true }), s(view.card)],
  ];
  const h = Math.max(lcd.length, info.length);
  return beside([block(lcd, d.cols + 2, h), block(info, infoW, h)], 2);
}

function titleLine(view: UiView, w: number): Line {
  const clock = view.paused ? s(' ‖ PAUSED ', { color: 'yellow', bold: true, inverse: true }) : s(` ▶ ${view.speed}× `, { color: 'green', bold: true });
  const left: Seg[] = [
    s(' VENDOMAT ', { bold: true, inverse: true }),
    s(` ${view.name} `, { bold: true }),
    s('│ '),
    s(formatTime(view.time)),
    clock,
    s('│ door '),
    s(view.door, view.door === 'open' ? { color: 'yellow', bold: true } : {}),
    s(' │ '),
    s(view.sales, { color: view.sales === 'outOfService' ? 'red' : 'cyan' }),
    ...(view.motor ? [s(` │ motor ${view.motor} turning`, { color: 'cyan' })] : []),
  ];
  const right = ' ? help ';
  const room = w - width(left);
  return room >= right.length ? [...left, s(' '.repeat(room - right.length)), s(right, { dim: true })] : fit(left, w);
}

// ------------------------------------------------------------------ panels

interface Panel {
  readonly id: PanelId;
  readonly title: string;
  readonly minW: number;
  /** Lines it would like (undefined: grows with the log). */
  readonly natural?: number;
  body(h: number, w: number): Line[];
}

function tail<T>(items: readonly T[], n: number): T[] {
  return n <= 0 ? [] : items.slice(Math.max(0, items.length - n));
}

function logLine(e: LogEntry): Line {
  const color: Color | undefined = e.source === 'you' ? 'cyan' : e.source === 'sim' ? 'yellow' : undefined;
  return [s(`${formatTime(e.at).padStart(9)} `, { dim: true }), s(e.text, color ? { color } : {})];
}

function rank(l: { readonly status: string; readonly faults: readonly string[] }): number {
  return l.status !== 'online' ? 0 : l.faults.length > 0 ? 1 : 2;
}

function panels(view: UiView): Panel[] {
  const all: Record<PanelId, Panel> = {
    states: {
      id: 'states',
      title: 'States',
      minW: 22,
      natural: view.states.length + 1,
      body: () => view.states.map((p) => [s(p, p.startsWith('sales') ? { color: 'cyan' } : {})]),
    },
    links: {
      id: 'links',
      title: 'Links',
      minW: 20,
      natural: view.links.length + view.injected.length + 1,
      // Injected faults first, then devices in trouble: what matters survives a short panel.
      body: () => [
        ...view.injected.map((f): Line => [s('⚡ ', { color: 'yellow' }), s(f, { color: 'yellow' })]),
        ...[...view.links]
          .sort((a, b) => rank(a) - rank(b))
          .map((l): Line => {
            const ok = l.status === 'online';
            const trouble = l.faults.length > 0;
            return [
              s(ok ? '● ' : '○ ', { color: !ok ? 'red' : trouble ? 'yellow' : 'green' }),
              s(padText(l.device, 10)),
              !ok ? s(l.status, { color: 'red', bold: true }) : trouble ? s(l.faults.join(' '), { color: 'yellow' }) : s(l.status, { dim: true }),
            ];
          }),
      ],
    },
    events: {
      id: 'events',
      title: 'Events',
      minW: 34,
      body: (h) => tail(view.log, h).map(logLine),
    },
    wire: {
      id: 'wire',
      title: 'Wire trace',
      minW: 40,
      body: (h) => (view.trace === null ? [[s('port level: no wire trace', { dim: true })]] : tail(view.trace, h).map((t) => [s(t)])),
    },
    inside: {
      id: 'inside',
      title: 'Inside the machine',
      minW: 40,
      natural: view.inside.length + 1,
      body: () => view.inside.map((l) => [s(l, l.endsWith('MISMATCH') ? { color: 'red' } : {})]),
    },
    counters: {
      id: 'counters',
      title: 'Audit counters',
      minW: 40,
      natural: view.counters.length + 1,
      body: () => view.counters.map((c) => [s(c)]),
    },
  };
  return PANEL_ORDER.filter((id) => view.panels[id]).map((id) => all[id]);
}

function titled(title: string, w: number, extra = ''): Line {
  const head = `─ ${title} ${extra ? `${extra} ` : ''}`;
  return [s(padText(head + '─'.repeat(Math.max(0, w - chars(head).length)), w), { color: 'gray', bold: true })];
}

function renderPanel(p: Panel, w: number, h: number, note = ''): Line[] {
  if (h <= 0) return [];
  return block([titled(p.title, w, note), ...p.body(h - 1, w)], w, h);
}

/** Packs the visible panels into rows (by their minimum widths) and shares the height among rows. */
function panelArea(view: UiView, w: number, h: number, ids: readonly PanelId[]): Line[] {
  const list = panels(view).filter((p) => ids.includes(p.id));
  if (h <= 0) return [];
  if (list.length === 0) return block([[s('panels hidden: t l e w i a show them', { dim: true })]], w, h);
  const rows: Panel[][] = [];
  let row: Panel[] = [];
  let used = 0;
  for (const p of list) {
    const need = (row.length > 0 ? 1 : 0) + p.minW;
    if (row.length > 0 && used + need > w) {
      rows.push(row);
      row = [];
      used = 0;
    }
    row.push(p);
    used += row.length > 1 ? p.minW + 1 : p.minW;
  }
  if (row.length > 0) rows.push(row);

  // Heights: every row shown gets at least MIN_ROW lines (rows that cannot are left out); then the
  // fixed-size rows grow to what they need and the growing rows (logs) share the rest.
  const MIN_ROW = 4;
  const fits = rows.slice(0, Math.max(1, Math.floor(h / MIN_ROW)));
  const dropped = rows.slice(fits.length).flat().map((p) => p.title.toLowerCase());
  const natural = fits.map((r) => (r.every((p) => p.natural !== undefined) ? Math.max(...r.map((p) => p.natural ?? 0)) : undefined));
  const heights = fits.map(() => Math.min(MIN_ROW, h));
  let left = h - heights.reduce((x, y) => x + y, 0);
  natural.forEach((n, i) => {
    if (n === undefined) return;
    const more = Math.max(0, Math.min(left, n - (heights[i] ?? 0)));
    heights[i] = (heights[i] ?? 0) + more;
    left -= more;
  });
  const growing = natural.map((n, i) => (n === undefined ? i : -1)).filter((i) => i >= 0);
  const takers = growing.length > 0 ? growing : [fits.length - 1];
  takers.forEach((i, j) => {
    const share = Math.floor(left / (takers.length - j));
    heights[i] = (heights[i] ?? 0) + share;
    left -= share;
  });

  const out: Line[] = [];
  fits.forEach((r, i) => {
    const rh = Math.max(0, Math.min(heights[i] ?? 0, h - out.length));
    if (rh === 0) return;
    const gaps = r.length - 1;
    const minSum = r.reduce((a, p) => a + p.minW, 0);
    const spare = Math.max(0, w - gaps - minSum);
    const widths = r.map((p) => p.minW + Math.floor((spare * p.minW) / minSum));
    const lastW = w - gaps - widths.slice(0, -1).reduce((a, b) => a + b, 0);
    widths[widths.length - 1] = lastW;
    const note = i === fits.length - 1 && dropped.length > 0 ? `(no room for ${dropped.join(', ')})` : '';
    out.push(...beside(r.map((p, j) => renderPanel(p, widths[j] ?? p.minW, rh, j === r.length - 1 ? note : ''))));
  });
  return block(out, w, h);
}

// ------------------------------------------------------------------ overlays

function overlay(view: UiView, w: number, h: number): Line[] | null {
  const mode = view.mode;
  if (h <= 0) return null;
  switch (mode.kind) {
    case 'menu': {
      const items = mode.items;
      const room = Math.max(1, h - 1);
      const start = Math.max(0, Math.min(mode.cursor - Math.floor(room / 2), items.length - room));
      const shown = items.slice(start, start + room);
      const pos = items.length > room ? `${mode.cursor + 1}/${items.length}` : '';
      const extra = [pos, mode.note ?? ''].filter((x) => x !== '').join(' · ');
      return block(
        [
          titled(mode.title, w, extra),
          ...shown.map((it, i): Line => {
            const selected = start + i === mode.cursor;
            return [
              s(selected ? '› ' : '  ', { color: 'cyan' }),
              s(it.label, { ...(selected ? { inverse: true } : {}), ...(it.disabled ? { dim: true } : {}) }),
              ...(it.disabled ? [s(`  (${it.disabled})`, { dim: true })] : []),
            ];
          }),
        ],
        w,
        h,
      );
    }
    case 'prompt': {
      const p = mode.prompt;
      const lines: Line[] = [titled(p.title, w)];
      if (p.choices) {
        lines.push([s(`${p.label}:`)]);
        const room = Math.max(1, h - 3);
        const start = Math.max(0, Math.min(p.cursor - Math.floor(room / 2), p.choices.length - room));
        p.choices.slice(start, start + room).forEach((c, i) => {
          const idx = start + i;
          const selected = idx === p.cursor;
          lines.push([s(selected ? '› ' : '  ', { color: 'cyan' }), s(`${idx + 1} ${c.label}`, selected ? { inverse: true } : {})]);
        });
      } else {
        lines.push([s(`${p.label}: `), s(p.text, { bold: true }), s('█', { color: 'cyan' })]);
      }
      if (p.error) lines.push([s(p.error, { color: 'red' })]);
      return block(lines, w, h);
    }
    case 'counters':
      return block([titled('Counters', w, 'Esc back'), ...view.counters.map((c) => [s(c)])], w, h);
    default:
      return null;
  }
}

function helpLines(view: UiView, w: number, h: number): Line[] {
  const colW = w >= 80 ? Math.floor((w - 1) / 2) : w;
  const groups: Line[][] = KEYS.map((g) => [
    [s(g.title, { bold: true, color: 'cyan' })],
    ...g.bindings.map((b): Line => [s(padText(b.keys, 12), { bold: true }), s(` ${b.what}`)]),
  ]);
  const wrap = (label: string, tokens: readonly string[]): Line[] => {
    const out: Line[] = [];
    let line = label;
    for (const t of tokens) {
      if (line.length + 1 + t.length > colW && line.trim() !== '') {
        out.push([s(line)]);
        line = ' '.repeat(label.length);
      }
      line += ` ${t}`;
    }
    out.push([s(line)]);
    return out;
  };
  const extra: Line[] = [
    [s('Money and marks', { bold: true, color: 'cyan' })],
    ...wrap('coins', view.coins.map((c, i) => `${i + 1}=${shortMoney(c, view)}`)),
    ...(view.bills.length > 0 ? wrap('bills', view.bills.map((b, i) => `b${i + 1}=${shortMoney(b, view)}`)) : []),
    ...wrap('keypad', ['A-J', '0-9', 'Bksp=CLEAR', 'Enter=RETURN']),
    ...wrap('grid', ['✗ sold out', '! failed', '# jammed', '* turning']),
  ];
  const [customer = [], ...rest] = groups;
  const left: Line[] = [...customer, [], ...extra];
  const right: Line[] = rest.flatMap((g) => [...g, []]);
  const title = titled('Keys', w, 'Esc closes');
  if (colW === w) return block([title, ...left, ...right], w, h);
  return block([title, ...beside([block(left, colW, h - 1), block(right, w - colW - 1, h - 1)])], w, h);
}

// ------------------------------------------------------------------ bottom lines

function hintLine(view: UiView, w: number): Line {
  const k = (key: string, what: string): Seg[] => [s(key, { bold: true, color: 'cyan' }), s(` ${what}  `)];
  /** Whole hints only: the ones that do not fit are left out (help has them all). */
  const some = (hints: readonly Seg[][]): Seg[] => {
    const out: Seg[] = [];
    for (const h of hints) if (width(out) + width(h) - 2 <= w) out.push(...h);
    return out;
  };
  const m = view.mode;
  switch (m.kind) {
    case 'keypad':
      return [s(' KEYPAD ', { inverse: true, bold: true }), s(' type A-J 0-9 · '), ...k('Bksp', 'CLEAR ·'), ...k('Enter', 'RETURN ·'), ...k('Esc', 'leave')];
    case 'bill':
      return [
        s(' BILL ', { inverse: true, bold: true }),
        s(' '),
        ...view.bills.flatMap((b, i) => k(String(i + 1), formatMoney(b, view.currency))),
        ...k('Esc', 'cancel'),
      ];
    case 'menu':
      return [...k('↑↓', 'choose'), ...k('Enter', 'do it'), ...(m.note ? k('o', 'once on/off') : []), ...k('Esc', 'back')];
    case 'prompt':
      return m.prompt.choices ? [...k('↑↓ 1-9', 'choose'), ...k('Enter', 'ok'), ...k('Esc', 'back')] : [s('type, then '), ...k('Enter', 'ok'), ...k('Esc', 'back')];
    case 'command':
      return [s(':', { bold: true, color: 'cyan' }), s(m.text), s('█', { color: 'cyan' }), s('   Enter runs · Esc cancels', { dim: true })];
    case 'help':
      return [...k('Esc', 'close help')];
    case 'counters':
      return [...k('Esc', 'back to the service menu')];
    default:
      return some([
        k(`1-${view.coins.length}`, 'coin'),
        ...(view.bills.length > 0 ? [k('b', 'bill')] : []),
        k('c/C', 'card'),
        k('k', 'keypad'),
        k('r', 'return'),
        k('g', 'take'),
        k('d', 'door'),
        ...(view.door === 'open' ? [k('s', 'service')] : []),
        k('f', 'faults'),
        k('␣', view.paused ? 'run' : 'pause'),
        k('?', 'help'),
        k('q', 'quit'),
        k('+-', 'speed'),
        k('n', 'step'),
      ]);
  }
}

function messageLine(view: UiView): Line {
  if (!view.message) return [s(view.paused && view.nextDue !== undefined ? `next timer at ${formatTime(view.nextDue)}: n steps to it` : '', { dim: true })];
  return [s(view.message.text, { color: TONE_COLOR[view.message.tone] })];
}

// ------------------------------------------------------------------ the frame

/** The whole frame: exactly `size.rows` lines of exactly `size.cols` characters. */
export function renderFrame(view: UiView, size: Size): Line[] {
  const W = Math.max(20, size.cols);
  const H = Math.max(6, size.rows);
  const midH = H - 3;
  const top = titleLine(view, W);
  const bottom = [messageLine(view), hintLine(view, W)];

  let middle: Line[];
  if (view.mode.kind === 'help') {
    middle = helpLines(view, W, midH);
  } else {
    const wide = W >= WIDE_COLS;
    // Wide: the front gets room for product names in the cells when the terminal allows it.
    const nameCells = 2 + view.grid.cols * 20;
    const leftW = wide ? Math.max(80, Math.min(nameCells, W - 52)) : W;
    const head = frontLines(view, leftW);
    const spare = midH - head.length - (view.grid.rows + 1) - 1;
    const tall = spare - view.grid.rows >= 10;
    const front = [...head, ...gridLines(view, leftW, tall), focusLine(view, leftW)];
    const under = midH - front.length;
    const over = overlay(view, wide ? leftW : W, under);
    if (wide) {
      // Under the front: a menu, or the growing panels; the rest in a column on the right.
      const left = [...front, ...(over ?? panelArea(view, leftW, under, ['events', 'inside', 'counters']))];
      const right = panelArea(view, W - leftW - 1, midH, ['states', 'links', 'wire']);
      middle = beside([block(left, leftW, midH), right]);
    } else {
      middle = [...front, ...(over ?? panelArea(view, W, under, PANEL_ORDER))];
    }
  }
  return block([top, ...block(middle, W, midH), ...bottom], W, H);
}
