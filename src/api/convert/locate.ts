/**
 * locate: a manager error placed in the request. The manager names a spec
 * field ("nhId", "encap.vifIndex") and a batch position; the edge knows the
 * proto field path ("routes[3].next_hop_id"). Each converter passes its
 * renames; what is not renamed is the camelCase name in snake_case.
 */
import { DatapathError } from '../../manager/errors.ts';

export type Renames = Record<string, string>;

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** protoField: a domain locator as a proto field path, relative to its message. */
export function protoField(field: string, renames: Renames): string {
  return renames[field] ?? field.split('.').map(snake).join('.');
}

/**
 * locate: runs a manager call; a DatapathError it throws gets its field
 * rewritten as `prefix(index)` + the proto field. Requests are parsed before
 * (parse errors carry their proto path already). Sync or async fn.
 */
export function locate<T>(fn: () => T, prefix: (index: number | undefined) => string, renames: Renames): T {
  try {
    const r = fn();
    if (r instanceof Promise) return r.catch((err: unknown) => Promise.reject(place(err, prefix, renames))) as T;
    return r;
  } catch (err) {
    throw place(err, prefix, renames);
  }
}

export function place(err: unknown, prefix: (index: number | undefined) => string, renames: Renames): unknown {
  if (err instanceof DatapathError && err.field !== undefined) err.field = `${prefix(err.index)}${protoField(err.field, renames)}`;
  return err;
}
