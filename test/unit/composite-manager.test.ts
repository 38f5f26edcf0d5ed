/**
 * The manager's composite suite on the FakeKernel (fast); the same suite
 * runs on the real kernel in test/bpf/composite-manager-kernel.test.ts.
 */
import { fakeHarness } from '../helpers/manager-harness.ts';
import { compositeBehaviour } from '../helpers/composite-suite.ts';

compositeBehaviour(fakeHarness);
