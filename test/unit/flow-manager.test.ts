/**
 * The flow manager's behaviour suite on the FakeKernel (fast); the same
 * suite runs on the real kernel in test/bpf/flow-kernel.test.ts.
 */
import { fakeHarness } from '../helpers/manager-harness.ts';
import { flowBehaviour } from '../helpers/flow-suite.ts';

flowBehaviour(fakeHarness);
