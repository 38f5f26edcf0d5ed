/**
 * DatapathError: the one domain error of the manager. `code` says what kind
 * of failure it is (the API edge maps it to a gRPC status in one place);
 * `field` is a domain locator (a spec's field, e.g. "nextHopId" or
 * "encap.vifIndex") and `index` the position in a batch, which the edge
 * turns into the request's field path. The manager never names a proto field.
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'resource_exhausted'
  | 'aborted'
  | 'internal';

export class DatapathError extends Error {
  readonly code: ErrorCode;
  field: string | undefined;
  index: number | undefined;
  /** detail: the message without the locator */
  readonly detail: string;

  constructor(code: ErrorCode, detail: string, opts: { field?: string | undefined; index?: number; cause?: unknown } = {}) {
    super(opts.field ? `${opts.field}: ${detail}` : detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DatapathError';
    this.code = code;
    this.detail = detail;
    this.field = opts.field;
    this.index = opts.index;
  }

  /** at: the same error, placed at a batch position (the first placement wins). */
  at(index: number): this {
    if (this.index === undefined) this.index = index;
    return this;
  }
}

export const invalid = (field: string, message: string) => new DatapathError('invalid_argument', message, { field });
export const notFound = (field: string, message: string) => new DatapathError('not_found', message, { field });
export const exists = (field: string, message: string) => new DatapathError('already_exists', message, { field });
export const precondition = (message: string, field?: string) => new DatapathError('failed_precondition', message, { field });
export const exhausted = (message: string) => new DatapathError('resource_exhausted', message);

const QUOTE_MAX = 48;

/** quote: a user string for an error message, cut to a short prefix with its length (a 1 MB field must not make a 1 MB status). */
export function quote(s: string): string {
  if (s.length <= QUOTE_MAX) return JSON.stringify(s);
  return `${JSON.stringify(s.slice(0, QUOTE_MAX))}... (${s.length} characters)`;
}
