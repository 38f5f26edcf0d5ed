/**
 * The manager's behaviour suites on the real kernel: a datapath loaded in a
 * throwaway bpffs directory, real veths in a private netns, the same
 * FaultyKernel wrapper the fake uses for injected failures. Every rule the
 * FakeKernel models is pinned here (test/unit/manager.test.ts runs the same
 * suites on the fake).
 */
import { before } from 'node:test';
import { privateNetns } from '../helpers/private-netns.ts';
import { realHarness } from '../helpers/real-harness.ts';
import { kernelRules } from '../helpers/kernel-rules-suite.ts';
import { managerBehaviour } from '../helpers/manager-suite.ts';
import { managerUndo } from '../helpers/manager-undo-suite.ts';

before(() => privateNetns());

kernelRules(realHarness);
managerBehaviour(realHarness);
managerUndo(realHarness);
