/**
 * rejects: asserts that a gRPC call fails with a given status code and that
 * the message (and the vrouter-field trailer, when given) names the field.
 */
import assert from 'node:assert/strict';
import { status, type ServiceError } from '@grpc/grpc-js';

export async function rejects(call: Promise<unknown>, code: status, field?: string, message?: RegExp): Promise<ServiceError> {
  try {
    await call;
  } catch (e) {
    const err = e as ServiceError;
    assert.equal(status[err.code], status[code], `status (message: ${err.details})`);
    if (field) {
      assert.ok(err.details.startsWith(`${field}: `), `message names ${field}: ${err.details}`);
      assert.equal(err.metadata.get('vrouter-field')[0], field, 'vrouter-field trailer');
    }
    if (message) assert.match(err.details, message);
    return err;
  }
  assert.fail(`expected ${status[code]}, the call succeeded`);
}
