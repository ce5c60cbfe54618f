import type { Observable } from 'rxjs';

/** Every device reports its link state; `error` carries a stable fault code. */
export type LinkState =
  | { readonly status: 'online' }
  | { readonly status: 'offline'; readonly reason?: string }
  | { readonly status: 'error'; readonly code: string; readonly detail?: string };

export const ONLINE: LinkState = { status: 'online' };

export interface Device {
  /** Short stable name, e.g. "coin", "bill", "card", used in logs and fault codes. */
  readonly name: string;
  /** Current link state first (replayed on subscribe), then every change. */
  readonly link$: Observable<LinkState>;
}
