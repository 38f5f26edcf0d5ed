/**
 * deploy/kubernetes/: every manifest validates against the Kubernetes API
 * schemas (kubernetes-models), and the DaemonSet is wired the way the
 * daemon and the image work: host network, the host's bpffs, the socket
 * directory the daemon and vrctl default to, probes through vrctl health
 * (the command test/e2e/sd-notify.test.ts runs against a daemon), the
 * metrics port in the Prometheus annotations, the args the daemon accepts,
 * the ConfigMap mounted where VROUTER_EBPFD_CONFIG points, the capabilities
 * of the systemd unit. The example Vrouter resource (CN2's CRD, no public
 * schema) validates against the JSON schema kept beside it.
 *
 * kubernetes-models checks types, required fields and enums but lets an
 * unknown field through (as kubectl --validate=false would): the wiring
 * tests read every field the deployment relies on through the typed model,
 * so a misspelt one is missing there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { Ajv } from 'ajv';
import { ConfigMap, Namespace } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { parseConfig } from '../../src/config.ts';
import { CAPABILITIES, ROOT } from '../helpers/deploy-files.ts';

const DIR = join(ROOT, 'deploy/kubernetes');
type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;

/** the models of the kinds deploy/kubernetes/ holds; a new kind needs its model here */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/DaemonSet': DaemonSet,
};

function manifests(): { file: string; doc: Doc }[] {
  return readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort().flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => {
      assert.deepEqual(d.errors, [], file);
      return { file, doc: d.toJS() as Doc };
    }),
  );
}

const find = (kind: string) => manifests().find((m) => m.doc.kind === kind)!.doc;
const daemonSet = () => new DaemonSet(find('DaemonSet') as never);
const container = (): IContainer => daemonSet().spec!.template.spec!.containers[0]!;

describe('Kubernetes manifests', () => {
  it('each validates against the Kubernetes API schema of its kind', () => {
    const seen = manifests();
    assert.deepEqual(seen.map((m) => m.doc.kind).sort(), ['ConfigMap', 'DaemonSet', 'Namespace']);
    for (const { file, doc } of seen) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      assert.ok(Model, `${file}: no model for ${doc.apiVersion} ${doc.kind}`);
      new Model(doc as never).validate();
    }
  });

  it('the schema validation is a real check: a wrong type or a missing field is refused', () => {
    const bad = structuredClone(find('DaemonSet')) as unknown as { spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } }; selector?: unknown } };
    bad.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'metrics';
    assert.throws(() => new DaemonSet(bad as never).validate(), /containerPort/);
    delete bad.spec.selector;
    assert.throws(() => new DaemonSet(bad as never).validate(), /selector/);
  });

  it('all in one namespace', () => {
    const ns = find('Namespace').metadata.name;
    for (const { doc } of manifests().filter((m) => m.doc.kind !== 'Namespace')) assert.equal(doc.metadata.namespace, ns, doc.kind);
  });

  it('the DaemonSet runs in the host network with the host\'s bpffs and the socket directory', () => {
    const pod = daemonSet().spec!.template.spec!;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    const mountOf = (name: string) => container().volumeMounts!.find((m) => m.name === name)!;
    const volume = (name: string) => pod.volumes!.find((v) => v.name === name)!;
    assert.deepEqual(volume('bpffs').hostPath, { path: '/sys/fs/bpf', type: 'Directory' });
    assert.equal(mountOf('bpffs').mountPath, '/sys/fs/bpf');
    // the directory of the socket that the daemon and vrctl use by default
    const socketDir = dirname(parseConfig([], {}).socketPath);
    assert.deepEqual(volume('run').hostPath, { path: socketDir, type: 'DirectoryOrCreate' });
    assert.equal(mountOf('run').mountPath, socketDir);
  });

  it('its probes run vrctl health (on the image\'s PATH) over the unix socket', () => {
    const c = container();
    for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
      const cmd = probe!.exec!.command!;
      assert.deepEqual([cmd[0], cmd[1], cmd.at(-1)], ['vrctl', '--timeout', 'health']);
      // the probe's own timeout outlasts vrctl's deadline, so a slow answer is vrctl's failure, with its message
      assert.ok(probe!.timeoutSeconds! * 1000 > Number(cmd[2]), 'timeoutSeconds above --timeout');
    }
    assert.match(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), /^RUN ln -s \/app\/src\/cli\/vrctl\.ts \/usr\/local\/bin\/vrctl/m);
  });

  it('its args are flags the daemon accepts, with metrics on the port Prometheus is told', () => {
    const c = container();
    const args = c.args!.map((a) => a.replace('$(HOST_IP)', '192.0.2.1'));
    const cfg = parseConfig(args, {});
    const port = cfg.metricsAddress.split(':').at(-1);
    assert.equal(cfg.metricsAddress, `192.0.2.1:${port}`);
    assert.equal(c.env!.find((e) => e.name === 'HOST_IP')!.valueFrom!.fieldRef!.fieldPath, 'status.hostIP');
    const metrics = c.ports!.find((p) => p.name === 'metrics')!;
    assert.equal(String(metrics.containerPort), port);
    assert.equal(metrics.hostPort, metrics.containerPort);
    const annotations = daemonSet().spec!.template.metadata!.annotations!;
    assert.deepEqual(annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': port, 'prometheus.io/path': '/metrics' });
  });

  it('mounts the ConfigMap where VROUTER_EBPFD_CONFIG points, and its config.yaml is YAML', () => {
    const c = container();
    const cm = find('ConfigMap') as Doc & { data: Record<string, string> };
    const pod = daemonSet().spec!.template.spec!;
    const vol = pod.volumes!.find((v) => v.configMap?.name === cm.metadata.name)!;
    const mount = c.volumeMounts!.find((m) => m.name === vol.name)!;
    assert.equal(mount.readOnly, true);
    assert.equal(c.env!.find((e) => e.name === 'VROUTER_EBPFD_CONFIG')!.value, join(mount.mountPath, 'config.yaml'));
    assert.equal(mount.mountPath, '/etc/vrouter-ebpf');
    assert.ok('config.yaml' in cm.data);
    parse(cm.data['config.yaml']!);
  });

  it('has resource requests and limits, and the systemd unit\'s capabilities with nothing else', () => {
    const c = container();
    for (const k of ['cpu', 'memory']) {
      assert.ok(c.resources!.requests![k], `requests.${k}`);
      assert.ok(c.resources!.limits![k], `limits.${k}`);
    }
    const sc = c.securityContext!;
    assert.equal(sc.privileged, false);
    assert.deepEqual(sc.capabilities!.drop, ['ALL']);
    assert.deepEqual([...sc.capabilities!.add!].sort(), CAPABILITIES.map((cap) => cap.replace(/^CAP_/, '')).sort());
  });
});

describe('the example Vrouter resource', () => {
  const schema = JSON.parse(readFileSync(join(DIR, 'examples/vrouter.schema.json'), 'utf8')) as object;
  const check = new Ajv({ allErrors: true, strict: true }).compile(schema);
  const vrouter = () => parse(readFileSync(join(DIR, 'examples/vrouter.yaml'), 'utf8')) as { spec: Record<string, unknown> & { common: { nodeSelector: Record<string, string> } } };

  it('has the shape of its JSON schema, with agentModeType: xdp', () => {
    const cr = vrouter();
    assert.ok(check(cr), JSON.stringify(check.errors));
    assert.equal(cr.spec.agentModeType, 'xdp');
  });

  it('selects the nodes the DaemonSet runs on', () => {
    const selector = daemonSet().spec!.template.spec!.nodeSelector!;
    for (const [k, v] of Object.entries(vrouter().spec.common.nodeSelector)) assert.equal(selector[k], v, k);
  });

  it('the schema is a real check: another mode, a missing mode, a wrong kind are refused', () => {
    for (const edit of [
      (cr: Record<string, unknown> & { spec: Record<string, unknown> }) => (cr.spec.agentModeType = 'ebpf'),
      (cr: Record<string, unknown> & { spec: Record<string, unknown> }) => delete cr.spec.agentModeType,
      (cr: Record<string, unknown> & { spec: Record<string, unknown> }) => (cr.kind = 'VRouter'),
    ]) {
      const cr = vrouter() as unknown as Record<string, unknown> & { spec: Record<string, unknown> };
      edit(cr);
      assert.equal(check(cr), false, JSON.stringify(cr));
    }
  });
});
