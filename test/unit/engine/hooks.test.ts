/**
 * The policy hooks besides the OOM (handlePressure, handleCgroupOnline/Offline) run through the
 * engine: under the policy deadline, faults caught, described safely and returned as records.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../../src/engine/engine.js";
import { type HookCall, describeHookCall } from "../../../src/engine/hooks.js";
import { definePolicy, type OomCause, type Policy, type PolicyDefinition, type PressureControl, type PressureEvent } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { buildFixture } from "../../support/fixture.js";
import { OOM_TEST } from "../../support/machines.js";

/** Long enough that no call here but a looping one can reach it, however loaded the machine. */
const GENEROUS_MS = 10_000;
/** For the looping hooks: any deadline ends them; a short one keeps the test quick. */
const SHORT_MS = 20;

const cause: OomCause = { kind: "pressure", trigger: "psi-jobs", message: "full stall", figures: { stall: "full" }, signalAtMonoMs: 5 };
const event: PressureEvent = { cgroup: cgroupPath("/oom_test"), resource: "memory", stall: "full", stallUsec: 100_000, windowUsec: 1_000_000, pressure: undefined, atMonoMs: 5 };

const snap = () => takeSnapshot(new FixtureHost(buildFixture(OOM_TEST)));
const policy = (name: string, hooks: Partial<PolicyDefinition>): Policy => definePolicy({ name, evaluateTask: () => "default", ...hooks } as PolicyDefinition);
const engineWith = (attachments: [string, Policy][], deadlineMs = GENEROUS_MS) =>
  new Engine({ attachments: attachments.map(([cgroup, p]) => ({ cgroup: cgroupPath(cgroup), policy: p, options: { mine: true } })), defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: deadlineMs });
const pressure = (engine: Engine) => engine.handlePressure({ event, snapshot: snap(), trigger: "psi-jobs", cause });

/** Things a policy may throw that String() cannot turn into text, or only slowly. */
const nullProto = () => Object.assign(Object.create(null) as object, { message: "no prototype" });
const badToString = () => ({ toString: () => { throw new Error("toString says no"); } });
const badMessage = () => {
  const e = new Error("hidden");
  Object.defineProperty(e, "message", { get: () => { throw new Error("getter says no"); } });
  return e;
};

describe("handlePressure through the engine", () => {
  test("declarations extend the trigger's cause; the call is recorded ok; options and rates reach the policy", () => {
    let seen: PressureControl | undefined;
    const steer = policy("steer", {
      handlePressure(ev, pc) {
        seen = pc;
        pc.declareOom("/oom_test/cg3", `full stall in ${ev.cgroup}`);
        pc.declareOom(pc.snapshot.cgroup("/oom_test/cg1") ?? "/", "second");
      },
    });
    const r = pressure(engineWith([["/oom_test", steer]]));
    assert.ok(r);
    assert.equal(r.call.outcome, "ok");
    assert.equal(r.call.policy, "steer");
    assert.equal(r.call.hook, "handlePressure");
    assert.equal(r.call.attachedTo, "/oom_test");
    assert.equal(r.call.error, undefined);
    assert.deepEqual(seen?.options, { mine: true });
    assert.deepEqual(r.declared.map((d) => d.scope), ["/oom_test/cg3", "/oom_test/cg1"]);
    assert.deepEqual(r.declared[0], {
      scope: "/oom_test/cg3",
      trigger: "steer.handlePressure",
      cause: { ...cause, kind: "pressure", trigger: "psi-jobs → steer.handlePressure", message: "full stall in /oom_test" },
    });
  });

  test("the nearest policy with a handlePressure hears the event; none: undefined", () => {
    const heard: string[] = [];
    const outer = policy("outer", { handlePressure: () => void heard.push("outer") });
    const inner = policy("inner", {}); // no handlePressure: passed over
    const engine = engineWith([["/", outer], ["/oom_test", inner]]);
    assert.equal(engine.pressurePolicy(cgroupPath("/oom_test"))?.policy.name, "outer");
    assert.equal(pressure(engine)?.call.attachedTo, "/");
    assert.deepEqual(heard, ["outer"]);
    assert.equal(pressure(engineWith([["/oom_test", inner]])), undefined);
  });

  const faults: [string, PolicyDefinition["handlePressure"], HookCall["outcome"], RegExp, number?][] = [
    ["throws an Error", () => { throw new TypeError("bad"); }, "threw", /^TypeError: bad$/],
    ["throws a string", () => { throw "just text"; }, "threw", /^non-error thrown: just text$/],
    ["throws a null-prototype object", () => { throw nullProto(); }, "threw", /^non-error thrown: an object without a usable toString$/],
    ["throws an object whose toString throws", () => { throw badToString(); }, "threw", /^non-error thrown: an object without a usable toString$/],
    ["throws an Error whose message getter throws", () => { throw badMessage(); }, "threw", /^thrown: an object that could not be described$/],
    ["throws a proxy", () => { throw new Proxy({}, { get: () => { throw new Error("trap"); }, getPrototypeOf: () => { throw new Error("trap"); } }); }, "threw", /^non-error thrown: a proxy$/],
    ["loops past its deadline", () => { for (;;) { /* spin */ } }, "timeout", new RegExp(`^ran past its deadline of ${SHORT_MS} ms$`), SHORT_MS],
    ["returns a promise", (async () => undefined) as never, "invalid", /returned a promise/],
    ["returns a rejecting promise", (() => Promise.reject(new Error("later"))) as never, "invalid", /returned a promise/],
    ["declares a number", (_e, pc) => pc.declareOom(42 as never, "r"), "invalid", /declareOom takes a cgroup or a cgroup path, got a number/],
    ["declares an escape from the tree", (_e, pc) => pc.declareOom("/oom_test/../..", "r"), "invalid", /may not contain "\.\."/],
    ["gives a reason that is not a string", (_e, pc) => pc.declareOom("/oom_test", nullProto() as never), "invalid", /reason string, got an object/],
  ];
  for (const [what, handlePressure, outcome, error, deadlineMs] of faults) {
    test(`a handler that ${what}: ${outcome}, described, its declarations dropped`, async () => {
      const broken = policy("broken", {
        handlePressure(ev, pc) {
          pc.declareOom("/oom_test/cg1", "declared before failing");
          return handlePressure?.(ev, pc);
        },
      });
      const r = pressure(engineWith([["/oom_test", broken]], deadlineMs));
      assert.ok(r);
      assert.equal(r.call.outcome, outcome);
      assert.match(r.call.error ?? "", error);
      assert.deepEqual(r.declared, [], "the caller declares from the trigger instead");
      assert.match(describeHookCall(r.call), new RegExp(`^policy broken \\(attached to /oom_test\\) handlePressure for /oom_test ${outcome}: `));
      // The process is healthy: the event loop turns and no rejection escaped.
      assert.equal(await new Promise((res) => setImmediate(() => res("turns"))), "turns");
    });
  }

  test("an invalid declareOom is caught even when the policy catches the refusal", () => {
    const sly = policy("sly", {
      handlePressure(_e, pc) {
        try {
          pc.declareOom({ path: 7 } as never, "r");
        } catch {
          /* pretend nothing happened */
        }
        pc.declareOom("/oom_test/cg1", "fine");
      },
    });
    const r = pressure(engineWith([["/oom_test", sly]]));
    assert.equal(r?.call.outcome, "invalid");
    assert.deepEqual(r?.declared, []);
  });

  test("declareOom after the call returned declares nothing", () => {
    let kept: PressureControl | undefined;
    const late = policy("late", { handlePressure: (_e, pc) => void (kept = pc) });
    const r = pressure(engineWith([["/oom_test", late]]));
    kept?.declareOom("/oom_test", "too late");
    assert.equal(r?.call.outcome, "ok");
    assert.deepEqual(r?.declared, []);
  });
});

describe("handleCgroupOnline/Offline through the engine", () => {
  test("each policy attached at or above the cgroup hears of it, in order; siblings do not", () => {
    const heard: string[] = [];
    const listen = (name: string) =>
      policy(name, {
        handleCgroupOnline: (c, o) => void heard.push(`${name} online ${c.path} ${JSON.stringify(o)}`),
        handleCgroupOffline: (p) => void heard.push(`${name} offline ${p}`),
      });
    const engine = engineWith([["/", listen("root")], ["/oom_test", listen("mid")], ["/oom_test/cg1", listen("sibling")], ["/oom_test/cg3", listen("self")]]);
    const node = snap().cgroup("/oom_test/cg3");
    assert.ok(node);
    const on = engine.cgroupOnline(node);
    const off = engine.cgroupOffline(cgroupPath("/oom_test/cg3"));
    assert.deepEqual(heard, [
      'root online /oom_test/cg3 {"mine":true}',
      'mid online /oom_test/cg3 {"mine":true}',
      'self online /oom_test/cg3 {"mine":true}',
      "root offline /oom_test/cg3",
      "mid offline /oom_test/cg3",
      "self offline /oom_test/cg3",
    ]);
    assert.deepEqual(on.map((c) => [c.policy, c.hook, c.cgroup, c.outcome]), [
      ["root", "handleCgroupOnline", "/oom_test/cg3", "ok"],
      ["mid", "handleCgroupOnline", "/oom_test/cg3", "ok"],
      ["self", "handleCgroupOnline", "/oom_test/cg3", "ok"],
    ]);
    assert.equal(off.length, 3);
  });

  test("returning a value (Map.delete's boolean) is fine; only promises are refused", () => {
    const state = new Map<string, number>();
    const tidy = policy("tidy", { handleCgroupOffline: ((p: string) => state.delete(p)) as never });
    assert.deepEqual(engineWith([["/", tidy]]).cgroupOffline(cgroupPath("/x")).map((c) => c.outcome), ["ok"]);
  });

  const faults: [string, () => unknown, HookCall["outcome"], RegExp, number?][] = [
    ["throws", () => { throw new RangeError("gone"); }, "threw", /^RangeError: gone$/],
    ["throws a null-prototype object", () => { throw nullProto(); }, "threw", /without a usable toString/],
    ["loops past its deadline", () => { for (;;) { /* spin */ } }, "timeout", /deadline of 20 ms/, SHORT_MS],
    ["returns a promise", () => Promise.reject(new Error("later")), "invalid", /returned a promise/],
  ];
  for (const hook of ["handleCgroupOnline", "handleCgroupOffline"] as const) {
    for (const [what, fn, outcome, error, deadlineMs] of faults) {
      test(`${hook} that ${what}: ${outcome}; the next policy still hears of it`, async () => {
        const heard: string[] = [];
        const broken = policy("broken", { [hook]: fn });
        const after = policy("after", { [hook]: () => void heard.push("after") });
        const engine = engineWith([["/", broken], ["/oom_test", after]], deadlineMs);
        const node = snap().cgroup("/oom_test/cg1");
        assert.ok(node);
        const calls = hook === "handleCgroupOnline" ? engine.cgroupOnline(node) : engine.cgroupOffline(node.path);
        assert.deepEqual(calls.map((c) => [c.policy, c.outcome]), [["broken", outcome], ["after", "ok"]]);
        assert.match(calls[0]?.error ?? "", error);
        assert.deepEqual(heard, ["after"]);
        assert.equal(await new Promise((res) => setImmediate(() => res("turns"))), "turns");
      });
    }
  }
});
