/**
 * The manager's behaviour suites on the FakeKernel (fast); the same suites
 * run on the real kernel in test/bpf/manager-kernel.test.ts.
 */
import { kernelRules } from '../helpers/kernel-rules-suite.ts';
import { fakeHarness } from '../helpers/manager-harness.ts';
import { managerBehaviour } from '../helpers/manager-suite.ts';
import { managerUndo } from '../helpers/manager-undo-suite.ts';

kernelRules(fakeHarness);
managerBehaviour(fakeHarness);
managerUndo(fakeHarness);
