/**
 * deploy/kubernetes: every manifest parses, and the DaemonSet has what docs/operations.md says it
 * has — privileged, hostPID, its configuration from the ConfigMap, requests equal to limits,
 * metrics on 0.0.0.0:9464 with the Prometheus annotations naming that port, the kubernetes policy
 * attached — and the configuration it carries passes `oomkit check`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { parseConfig } from "../../../src/config/load.js";

const DEPLOY = fileURLToPath(new URL("../../../../deploy/", import.meta.url));
const K8S = path.join(DEPLOY, "kubernetes");

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), `${what} is a mapping`);
  return v as Obj;
};
const arr = (v: unknown, what: string): unknown[] => {
  assert.ok(Array.isArray(v), `${what} is a list`);
  return v;
};

/** Every document of every manifest under deploy/kubernetes, with where it came from. */
function manifests(): { file: string; doc: Obj }[] {
  const out: { file: string; doc: Obj }[] = [];
  for (const name of fs.readdirSync(K8S).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    for (const d of parseAllDocuments(fs.readFileSync(path.join(K8S, name), "utf8"))) {
      assert.deepEqual(d.errors.map((e) => e.message), [], `${name} parses`);
      assert.deepEqual(d.warnings.map((e) => e.message), [], `${name} parses without warnings`);
      if (d.contents === null) continue;
      out.push({ file: name, doc: obj(d.toJS(), name) });
    }
  }
  return out;
}

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

describe("deploy/kubernetes", () => {
  const all = manifests();
  const ofKind = (kind: string) => all.filter((m) => m.doc.kind === kind).map((m) => m.doc);

  test("every manifest names its apiVersion, kind, name and namespace", () => {
    assert.ok(all.length >= 2);
    for (const { file, doc } of all) {
      assert.equal(typeof doc.apiVersion, "string", `${file}: apiVersion`);
      assert.equal(typeof doc.kind, "string", `${file}: kind`);
      const meta = obj(doc.metadata, `${file}: metadata`);
      assert.equal(typeof meta.name, "string", `${file}: metadata.name`);
      assert.equal(meta.namespace, "kube-system", `${file}: namespace`);
    }
  });

  const [ds] = ofKind("DaemonSet");
  const template = obj(obj(obj(ds, "DaemonSet").spec, "spec").template, "template");
  const pod = obj(template.spec, "pod spec");
  const containers = arr(pod.containers, "containers").map((c, i) => obj(c, `container ${i}`));
  const oomkit = containers.find((c) => c.name === "oomkit") ?? {};
  const command = arr(oomkit.command, "command").map(String);
  const configPath = command[command.indexOf("--config") + 1] ?? "";

  test("one DaemonSet: hostPID, every container privileged, requests equal to limits", () => {
    assert.equal(ofKind("DaemonSet").length, 1);
    assert.equal(pod.hostPID, true);
    for (const c of containers) {
      assert.equal(obj(c.securityContext, "securityContext").privileged, true, `${String(c.name)} is privileged`);
      const r = obj(c.resources, "resources");
      const requests = obj(r.requests, "requests");
      assert.deepEqual(requests, obj(r.limits, "limits"), "requests == limits: Guaranteed QoS");
      assert.deepEqual(Object.keys(requests).sort(), ["cpu", "memory"], "both memory and CPU, or the pod is not Guaranteed");
    }
  });

  const maps = ofKind("ConfigMap");
  const volumes = arr(pod.volumes, "volumes").map((v, i) => obj(v, `volume ${i}`));
  const mounts = arr(oomkit.volumeMounts, "volumeMounts").map((m, i) => obj(m, `mount ${i}`));
  const mount = mounts.find((m) => m.mountPath === path.posix.dirname(configPath));
  const volume = volumes.find((v) => v.name === mount?.name);
  const mapName = volume ? obj(volume.configMap, "the config volume's configMap").name : undefined;
  const map = maps.find((m) => obj(m.metadata, "metadata").name === mapName);
  const toml = map ? obj(map.data, "data")[path.posix.basename(configPath)] : undefined;

  test("the configuration comes from the ConfigMap, mounted read-only where --config names it", () => {
    assert.ok(configPath.startsWith("/"), `--config ${configPath}`);
    assert.ok(mount, `a volume is mounted at ${path.posix.dirname(configPath)}`);
    assert.equal(mount.readOnly, true);
    assert.ok(map, `the volume is the ConfigMap ${String(mapName)}, which deploy/kubernetes holds`);
    assert.equal(typeof toml, "string", `the ConfigMap holds ${path.posix.basename(configPath)}`);
  });

  test("the configuration passes oomkit check, attaches the kubernetes policy at / and serves metrics on 0.0.0.0:9464", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-k8s-"));
    const file = path.join(dir, "oomkit.toml");
    fs.writeFileSync(file, String(toml), { mode: 0o644 });
    const r = await cli(["check", "--config", file]);
    assert.equal(r.code, EXIT.ok, r.stdout + r.stderr);
    const { config } = parseConfig(String(toml), file);
    assert.equal(config.report.metrics_listen, "0.0.0.0:9464");
    assert.ok(config.attach.some((a) => a.cgroup === "/" && "policy" in a && a.policy === "kubernetes"), "kubernetes is attached at /");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("Prometheus annotations name the metrics port the configuration listens on and the container exposes", () => {
    const annotations = obj(obj(template.metadata, "template metadata").annotations, "annotations");
    assert.equal(annotations["prometheus.io/scrape"], "true");
    const { config } = parseConfig(String(toml), "configmap");
    const port = config.report.metrics_listen.split(":").pop();
    assert.equal(annotations["prometheus.io/port"], port);
    const ports = arr(oomkit.ports, "ports").map((p) => obj(p, "port"));
    assert.ok(ports.some((p) => String(p.containerPort) === port), `the container exposes ${String(port)}`);
  });

  test("the image runs the package as the unit's install line lays it out", () => {
    const unit = fs.readFileSync(path.join(DEPLOY, "oomkit.service"), "utf8");
    const unitMain = (unit.split("\n").find((l) => l.startsWith("ExecStart=")) ?? "").split(" ").find((w) => w.endsWith("/main.js"));
    assert.ok(unitMain && command.includes(unitMain), `${command.join(" ")} runs ${String(unitMain)}`);
    const dockerfile = fs.readFileSync(path.join(K8S, "Dockerfile"), "utf8");
    assert.match(dockerfile, /^RUN npm install -g --prefix \/opt\/oomkit \/tmp\/oomkit-[0-9.]+\.tgz/m);
  });
});
