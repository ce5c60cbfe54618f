/**
 * The ink component: subscribes to the store, lays the frame out for the terminal size and paints
 * it. Keys go straight to the store; everything else lives there and in the pure layout.
 */
import { Box, Text, useInput, useStdout, type Key } from 'ink';
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { KeyPress } from './keys.ts';
import { trimmedLineText } from './ansi.ts';
import { MIN_SIZE, renderFrame, type Size } from './layout.ts';
import type { UiStore } from './store.ts';

export interface AppProps {
  readonly store: UiStore;
  /** A fixed size (tests, captures); default: the terminal's, following resizes. */
  readonly size?: Size;
}

export function toKeyPress(input: string, key: Key): KeyPress {
  return {
    input,
    up: key.upArrow,
    down: key.downArrow,
    left: key.leftArrow,
    right: key.rightArrow,
    enter: key.return,
    escape: key.escape,
    // Terminals send DEL (0x7f) for the Backspace key; ink calls that `delete`.
    backspace: key.backspace || key.delete,
    tab: key.tab,
    ctrl: key.ctrl,
    pageUp: key.pageUp,
    pageDown: key.pageDown,
  };
}

function terminalSize(stdout: NodeJS.WriteStream): Size {
  return { cols: stdout.columns || MIN_SIZE.cols, rows: stdout.rows || MIN_SIZE.rows };
}

function useTerminalSize(fixed: Size | undefined): Size {
  const { stdout } = useStdout();
  const [size, setSize] = useState<Size>(() => fixed ?? terminalSize(stdout));
  useEffect(() => {
    if (fixed) return;
    const onResize = (): void => setSize(terminalSize(stdout));
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, fixed]);
  return fixed ?? size;
}

/** Colour when the terminal has it and the person did not opt out (NO_COLOR). */
function wantsColour(stdout: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR !== undefined) return false;
  return typeof stdout.hasColors === 'function' && stdout.hasColors();
}

export function App({ store, size }: AppProps) {
  useSyncExternalStore(store.subscribe, store.getVersion);
  const term = useTerminalSize(size);
  useInput((input, key) => {
    const press = toKeyPress(input, key);
    // Keys typed faster than a read (or pasted) arrive as one chunk: handle them one by one.
    if (press.input.length > 1 && !press.ctrl) for (const ch of press.input) store.key({ input: ch });
    else store.key(press);
  });
  const { stdout } = useStdout();
  const colour = wantsColour(stdout);
  // Ink clears the whole screen on every frame as tall as the terminal; one line less avoids that flicker.
  const frame = renderFrame(store.view(), size ? term : { cols: term.cols, rows: Math.max(6, term.rows - 1) });
  return (
    <Box flexDirection="column">
      {frame.map((line, i) => (
        <Text key={i} wrap="truncate-end">
          {trimmedLineText(line, colour)}
        </Text>
      ))}
    </Box>
  );
}
