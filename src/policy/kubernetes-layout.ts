/**
 * kubelet's cgroup layouts, read from paths alone (pure functions of text; no snapshot, no OS).
 *
 * cgroupfs driver:  /kubepods/pod<uid>/<container>                        (Guaranteed)
 *                   /kubepods/{besteffort,burstable}/pod<uid>/<container>
 * systemd driver:   /kubepods.slice/kubepods-pod<uid_>.slice/<scope>       (Guaranteed)
 *                   /kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/<scope>
 *
 * In the systemd layout the pod uid's dashes are written as underscores (systemd reserves "-" for
 * the slice hierarchy); `uid` is given back with dashes either way. A `--cgroup-root` other than
 * "/" puts the tree lower (`/kubelet/kubepods/...`, or `kubelet-kubepods.slice` under
 * `kubelet.slice` with systemd): the first segment that names the kubepods root starts the match.
 * Container scopes are `cri-containerd-<id>.scope` (containerd), `crio-<id>.scope` (CRI-O),
 * `docker-<id>.scope` (dockershim and cri-dockerd); with cgroupfs the folder is the id itself
 * (CRI-O: `crio-<id>`). `crio-conmon-<id>.scope` holds CRI-O's monitor process, not a container.
 */

export type QosClass = "besteffort" | "burstable" | "guaranteed";

export type Layout = "cgroupfs" | "systemd";

/** What a cgroup path is to kubelet, when it is anything. */
export type KubeCgroup =
  | { readonly kind: "pod"; readonly layout: Layout; readonly qos: QosClass; readonly uid: string }
  | {
      readonly kind: "container";
      readonly layout: Layout;
      readonly qos: QosClass;
      readonly uid: string;
      /** The pod's cgroup path. */
      readonly pod: string;
      /** containerd, crio, docker, or undefined where the folder names no runtime. */
      readonly runtime: string | undefined;
      readonly id: string;
      /** A runtime's monitor (CRI-O's conmon): in the pod, but no container of it. */
      readonly monitor: boolean;
    };

const CGROUPFS_ROOT = /^kubepods$/;
const CGROUPFS_QOS = /^(besteffort|burstable)$/;
const CGROUPFS_POD = /^pod([0-9a-fA-F][0-9a-fA-F-]*)$/;
const SYSTEMD_ROOT = /^(?:(.+)-)?kubepods\.slice$/;
const SCOPE = /^(cri-containerd|crio-conmon|crio|docker|cri-dockerd)-([0-9a-zA-Z]+)\.scope$/;
const CRIO_CGROUPFS = /^crio-(?:(conmon)-)?([0-9a-zA-Z]+)$/;

const RUNTIME: Readonly<Record<string, string>> = { "cri-containerd": "containerd", crio: "crio", "crio-conmon": "crio", docker: "docker", "cri-dockerd": "docker" };

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The container part of a path below a pod: its runtime, id, and whether it is a monitor. */
function container(name: string, layout: Layout): { runtime: string | undefined; id: string; monitor: boolean } {
  const scope = SCOPE.exec(name);
  if (scope) return { runtime: RUNTIME[scope[1] as string], id: scope[2] as string, monitor: scope[1] === "crio-conmon" };
  if (layout === "cgroupfs") {
    const crio = CRIO_CGROUPFS.exec(name);
    if (crio) return { runtime: "crio", id: crio[2] as string, monitor: crio[1] !== undefined };
  }
  return { runtime: undefined, id: name, monitor: false };
}

/** Reads the pod and container segments after the kubepods root at `at` (cgroupfs). */
function cgroupfs(segs: readonly string[], at: number): KubeCgroup | undefined {
  let i = at + 1;
  let qos: QosClass = "guaranteed";
  const q = CGROUPFS_QOS.exec(segs[i] ?? "");
  if (q) {
    qos = q[1] as QosClass;
    i++;
  }
  const pod = CGROUPFS_POD.exec(segs[i] ?? "");
  if (!pod) return undefined;
  const uid = pod[1] as string;
  const podPath = `/${segs.slice(0, i + 1).join("/")}`;
  const rest = segs.length - (i + 1);
  if (rest === 0) return { kind: "pod", layout: "cgroupfs", qos, uid };
  return { kind: "container", layout: "cgroupfs", qos, uid, pod: podPath, ...container(segs[i + 1] as string, "cgroupfs") };
}

/** Reads the pod and container segments after the kubepods slice at `at` (systemd). */
function systemd(segs: readonly string[], at: number, prefix: string): KubeCgroup | undefined {
  const base = `${prefix}kubepods`;
  let i = at + 1;
  let qos: QosClass = "guaranteed";
  const q = new RegExp(`^${escapeRe(base)}-(besteffort|burstable)\\.slice$`).exec(segs[i] ?? "");
  if (q) {
    qos = q[1] as QosClass;
    i++;
  }
  const qosPart = qos === "guaranteed" ? "" : `-${qos}`;
  const pod = new RegExp(`^${escapeRe(base)}${qosPart}-pod([0-9a-fA-F][0-9a-fA-F_]*)\\.slice$`).exec(segs[i] ?? "");
  if (!pod) return undefined;
  const uid = (pod[1] as string).replaceAll("_", "-");
  const podPath = `/${segs.slice(0, i + 1).join("/")}`;
  const rest = segs.length - (i + 1);
  if (rest === 0) return { kind: "pod", layout: "systemd", qos, uid };
  return { kind: "container", layout: "systemd", qos, uid, pod: podPath, ...container(segs[i + 1] as string, "systemd") };
}

/**
 * What `path` (a cgroup path such as "/kubepods/burstable/pod1234/abcd") is in kubelet's layout:
 * a pod, a container (or a folder below one: the container is the unit), or undefined.
 */
export function kubeCgroup(path: string): KubeCgroup | undefined {
  const segs = path.split("/").filter((s) => s.length > 0);
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as string;
    if (CGROUPFS_ROOT.test(s)) return cgroupfs(segs, i);
    const sd = SYSTEMD_ROOT.exec(s);
    if (sd) return systemd(segs, i, sd[1] === undefined ? "" : `${sd[1]}-`);
  }
  return undefined;
}

/** The cgroup path of the container unit a path lies in (the folder right below the pod), or undefined. */
export function containerPath(path: string, k: KubeCgroup): string | undefined {
  if (k.kind !== "container") return undefined;
  const below = path.slice(k.pod.length + 1).split("/")[0];
  return below ? `${k.pod}/${below}` : undefined;
}
