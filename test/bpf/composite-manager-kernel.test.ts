/**
 * The manager's composite suite on the real kernel (a datapath in a
 * throwaway bpffs directory, veths in a private netns): every rule the
 * FakeKernel models for composites is pinned here
 * (test/unit/composite-manager.test.ts runs the same suite on the fake).
 */
import { before } from 'node:test';
import { privateNetns } from '../helpers/private-netns.ts';
import { realHarness } from '../helpers/real-harness.ts';
import { compositeBehaviour } from '../helpers/composite-suite.ts';

before(() => privateNetns());

compositeBehaviour(realHarness);
