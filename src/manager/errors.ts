/**
 * DatapathError: the one domain error of the manager. `code` says what kind
 * of failure it is (the API edge maps it to a gRPC status in one place);
 * `field` names the request field at fault, when there is one.
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'resource_exhausted'
  | 'internal';

export class DatapathError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { field?: string; cause?: unknown } = {}) {
    super(opts.field ? `${opts.field}: ${message}` : message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DatapathError';
    this.code = code;
    this.field = opts.field;
  }
}

export const invalid = (field: string, message: string) => new DatapathError('invalid_argument', message, { field });
export const notFound = (field: string, message: string) => new DatapathError('not_found', message, { field });
export const exists = (field: string, message: string) => new DatapathError('already_exists', message, { field });
export const precondition = (message: string, field?: string) =>
  new DatapathError('failed_precondition', message, field ? { field } : {});
export const exhausted = (message: string) => new DatapathError('resource_exhausted', message);
