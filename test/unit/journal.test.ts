/**
 * Journal: the executor of plans: inverses run newest first, and one that
 * fails does not stop the others.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Journal } from '../../src/manager/journal.ts';

describe('Journal', () => {
  it('rollback runs the inverses in reverse order, each with its step\'s result', () => {
    const j = new Journal();
    const log: string[] = [];
    assert.equal(j.run('a', () => 1, (r) => log.push(`undo a ${r}`)), 1);
    j.record('b', () => log.push('undo b'));
    j.run('c', () => 'x', (r) => log.push(`undo c ${r}`));
    assert.equal(j.size, 3);
    assert.deepEqual(j.rollback(), []);
    assert.deepEqual(log, ['undo c x', 'undo b', 'undo a 1']);
    assert.equal(j.size, 0);
    assert.deepEqual(j.rollback(), [], 'a second rollback does nothing');
    assert.equal(log.length, 3);
  });

  it('a step that throws records no inverse', () => {
    const j = new Journal();
    const log: string[] = [];
    j.run('a', () => undefined, () => log.push('undo a'));
    assert.throws(() => j.run('b', () => { throw new Error('b failed'); }, () => log.push('undo b')), /b failed/);
    j.rollback();
    assert.deepEqual(log, ['undo a']);
  });

  it('a failing inverse does not stop the others; the failures are returned', () => {
    const j = new Journal();
    const log: string[] = [];
    const boom = new Error('boom');
    j.record('a', () => log.push('a'));
    j.record('b', () => { throw boom; });
    j.record('c', () => log.push('c'));
    j.record('d', () => { throw 'not an Error'; });
    const failed = j.rollback();
    assert.deepEqual(log, ['c', 'a']);
    assert.deepEqual(failed, [{ what: 'd', err: 'not an Error' }, { what: 'b', err: boom }]);
  });
});
