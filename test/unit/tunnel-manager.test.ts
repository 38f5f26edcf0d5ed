/**
 * The manager's tunnel suite on the FakeKernel (fast); the same suite runs
 * on the real kernel in test/bpf/tunnel-manager-kernel.test.ts.
 */
import { fakeHarness } from '../helpers/manager-harness.ts';
import { tunnelBehaviour } from '../helpers/tunnel-suite.ts';

tunnelBehaviour(fakeHarness);
