/**
 * Frames as terminal text (SGR colours). Each frame line becomes one string: ink then lays out one
 * text node per line instead of one per styled segment, which is several times faster. `paintFrame`
 * also paints the very first frame directly while ink is still loading: ink and its dependencies
 * take longer to import than the whole machine takes to start, and a person should see the machine
 * at once.
 */
import type { Color, Line, Seg } from './layout.ts';

const FG: Readonly<Record<Color, number>> = { black: 30, red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, white: 37, gray: 90 };

function sgr(seg: Seg): string {
  const codes: number[] = [];
  if (seg.bold) codes.push(1);
  if (seg.dim) codes.push(2);
  if (seg.inverse) codes.push(7);
  if (seg.color) codes.push(FG[seg.color]);
  if (seg.bg) codes.push(FG[seg.bg] + 10);
  return codes.length > 0 ? `\x1b[${codes.join(';')}m${seg.text}\x1b[0m` : seg.text;
}

/** One frame line as text with SGR codes (plain when `colour` is false). */
export function lineText(line: Line, colour: boolean): string {
  return line.map((seg) => (colour ? sgr(seg) : seg.text)).join('');
}

/**
 * The same without the blank padding at the end of the line (nothing visible is lost): ink works
 * character by character, so a frame's trailing blanks cost as much as its text.
 */
export function trimmedLineText(line: Line, colour: boolean): string {
  let end = line.length;
  while (end > 0) {
    const seg = line[end - 1];
    if (!seg || seg.inverse || seg.bg || seg.text.trim() !== '') break;
    end -= 1;
  }
  const kept = line.slice(0, end);
  const last = kept[kept.length - 1];
  if (last && !last.inverse && !last.bg) kept[kept.length - 1] = { ...last, text: last.text.trimEnd() };
  return lineText(kept, colour);
}

/** The frame as terminal output: every line painted at its row from the top-left corner. */
export function paintFrame(frame: readonly Line[], colour = true): string {
  let out = '';
  frame.forEach((line, i) => {
    out += `\x1b[${i + 1};1H${lineText(line, colour)}`;
  });
  return out;
}
