/**
 * toServiceError: the one translation from any error to a gRPC status.
 * Domain errors keep their code and message; anything else is INTERNAL.
 */
import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { DatapathError, type ErrorCode } from '../manager/errors.ts';

const CODES: Record<ErrorCode, status> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  aborted: status.ABORTED,
  internal: status.INTERNAL,
};

export function toServiceError(err: unknown): ServiceError {
  const code = err instanceof DatapathError ? CODES[err.code] : status.INTERNAL;
  let message =
    err instanceof DatapathError ? (err.field ? `${err.field}: ${err.detail}` : err.detail) : err instanceof Error ? err.message : String(err);
  // a status travels in an HTTP/2 header: keep it short whatever went wrong
  if (message.length > 2048) message = `${message.slice(0, 2048)}... (${message.length} characters)`;
  const metadata = new Metadata();
  if (err instanceof DatapathError && err.field) metadata.set('vrouter-field', err.field);
  return Object.assign(new Error(message), { code, details: message, metadata });
}
