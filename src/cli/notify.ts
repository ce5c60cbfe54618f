/**
 * sd_notify(3) for `vendomat run` under systemd (`Type=notify`, `WatchdogSec=`): datagrams on the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or `@name` for the abstract namespace).
 *
 * - `READY=1` once the devices are up and the journal is open, so `systemctl start` returns when
 *   the machine can sell;
 * - `WATCHDOG=1` every half of $WATCHDOG_USEC from a timer on the event loop: a loop that hangs
 *   stops the pings and systemd restarts the service (the journal keeps the credit);
 * - `STATUS=…` for `systemctl status`, `STOPPING=1` on a clean stop.
 *
 * Node has no Unix datagram sockets of its own; unix-dgram (a small native addon) sends them. It is
 * loaded only when $NOTIFY_SOCKET is set.
 */
import { createRequire } from 'node:module';

/** The datagram socket, as far as sd_notify needs it. */
export interface NotifyTransport {
  send(message: Buffer, path: string): void;
  close(): void;
}

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}

/** unix-dgram's client socket. Errors are reported through `onError`, never thrown at the loop. */
export function unixDgramTransport(onError: (e: Error) => void): NotifyTransport {
  const lib = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  const socket = lib.createSocket('unix_dgram');
  socket.on('error', onError);
  return {
    send: (message, path) => socket.send(message, 0, message.length, path, (err) => err && onError(err)),
    close: () => socket.close(),
  };
}

/** `@name` is the abstract namespace: a leading NUL on the wire. */
export function notifySocketAddress(value: string): string {
  return value.startsWith('@') ? `\0${value.slice(1)}` : value;
}

/**
 * The watchdog interval systemd asked for, halved as sd_watchdog_enabled(3) advises, or undefined
 * when there is none for this process (WATCHDOG_PID names another one).
 */
export function watchdogPingMs(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export interface Notifier {
  ready(status?: string): void;
  status(text: string): void;
  stopping(status?: string): void;
  /** Pings WATCHDOG=1 from the event loop until closed (no-op without a watchdog). */
  startWatchdog(): void;
  close(): void;
}

/** What a process not under systemd gets: nothing is sent. */
export const NO_NOTIFY: Notifier = { ready: () => undefined, status: () => undefined, stopping: () => undefined, startWatchdog: () => undefined, close: () => undefined };

export interface NotifierDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly transport?: (onError: (e: Error) => void) => NotifyTransport;
  readonly onError?: (e: Error) => void;
  readonly setInterval?: (fn: () => void, ms: number) => unknown;
  readonly clearInterval?: (handle: unknown) => void;
}

/** The notifier for this process: sd_notify when $NOTIFY_SOCKET is set, else NO_NOTIFY. */
export function systemdNotifier(deps: NotifierDeps = {}): Notifier {
  const env = deps.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return NO_NOTIFY;
  const address = notifySocketAddress(socket);
  const onError = deps.onError ?? (() => undefined);
  const transport = (deps.transport ?? unixDgramTransport)(onError);
  const pingMs = watchdogPingMs(env);
  let timer: unknown;
  const send = (...lines: string[]): void => {
    try {
      transport.send(Buffer.from(lines.join('\n')), address);
    } catch (e) {
      onError(e instanceof Error ? e : new Error(String(e)));
    }
  };
  const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ');
  return {
    ready: (status) => send('READY=1', ...(status !== undefined ? [`STATUS=${oneLine(status)}`] : []), `MAINPID=${process.pid}`),
    status: (text) => send(`STATUS=${oneLine(text)}`),
    stopping: (status) => send('STOPPING=1', ...(status !== undefined ? [`STATUS=${oneLine(status)}`] : [])),
    startWatchdog() {
      if (pingMs === undefined || timer !== undefined) return;
      send('WATCHDOG=1');
      const handle = (deps.setInterval ?? setInterval)(() => send('WATCHDOG=1'), pingMs);
      // The pings must not keep a stopping process alive.
      if (typeof handle === 'object' && handle !== null && 'unref' in handle && typeof handle.unref === 'function') handle.unref();
      timer = handle;
    },
    close() {
      if (timer !== undefined) (deps.clearInterval ?? ((h) => clearInterval(h as ReturnType<typeof setInterval>)))(timer);
      timer = undefined;
      transport.close();
    },
  };
}
