import { strict as assert } from "node:assert";
import { FlowSpec, step } from "../../../runtime/index.js";
import {
  cronProblems,
  DeployDefinitionError,
  isTimeZone,
  rawDeployDeclOf,
  resolveDeploySpec,
  schedule,
  trigger,
  triggerOnFinish,
  type RawDeployDecl,
} from "../../../runtime/deploy/decorators.js";
import { isKubestepError } from "../../../runtime/errors.js";

const raw = (r: Partial<RawDeployDecl>): RawDeployDecl => ({ schedules: [], triggers: [], triggerOnFinish: [], ...r });
function problemsOf(flow: string, r: Partial<RawDeployDecl>): string[] {
  try {
    resolveDeploySpec(flow, raw(r));
  } catch (e) {
    assert.ok(e instanceof DeployDefinitionError, String(e));
    assert.ok(isKubestepError(e));
    assert.equal(e.exitCode, 2);
    assert.match(e.message, new RegExp(`^flow ${flow} cannot be deployed:`));
    return e.problems;
  }
  assert.fail("expected a DeployDefinitionError");
}

describe("deploy decorators", () => {
  it("record their arguments on the class, read back by rawDeployDeclOf", () => {
    @schedule({ cron: "0 * * * *", timezone: "Europe/Paris" })
    @trigger({ event: "data-ready" })
    @triggerOnFinish({ flow: "UpstreamFlow" })
    class F extends FlowSpec {
      @step start() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.deepEqual(rawDeployDeclOf(F), {
      schedules: [{ cron: "0 * * * *", timezone: "Europe/Paris" }],
      triggers: [{ event: "data-ready" }],
      triggerOnFinish: [{ flow: "UpstreamFlow" }],
    });
    assert.deepEqual(resolveDeploySpec("F", rawDeployDeclOf(F)), {
      schedule: { cron: "0 * * * *", timezone: "Europe/Paris" },
      events: ["data-ready"],
      upstreamFlows: ["UpstreamFlow"],
    });
  });

  it("a class without them has none; a subclass inherits its parent's", () => {
    class Plain extends FlowSpec {
      @step start() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.deepEqual(rawDeployDeclOf(Plain), { schedules: [], triggers: [], triggerOnFinish: [] });
    assert.deepEqual(resolveDeploySpec("Plain", rawDeployDeclOf(Plain)), { events: [], upstreamFlows: [] });
    @schedule({ daily: true })
    class Parent extends FlowSpec {
      @step start() {
        this.next(this.end);
      }
      @step end() {}
    }
    class Child extends Parent {}
    assert.equal(rawDeployDeclOf(Parent).schedules.length, 1);
    assert.deepEqual(rawDeployDeclOf(Child), { schedules: [{ daily: true }], triggers: [], triggerOnFinish: [] });
  });

  it("hourly, daily and weekly are cron expressions", () => {
    assert.deepEqual(resolveDeploySpec("F", raw({ schedules: [{ hourly: true }] })).schedule, { cron: "0 * * * *" });
    assert.deepEqual(resolveDeploySpec("F", raw({ schedules: [{ daily: true, timezone: "UTC" }] })).schedule, {
      cron: "0 0 * * *",
      timezone: "UTC",
    });
    assert.deepEqual(resolveDeploySpec("F", raw({ schedules: [{ weekly: true }] })).schedule, { cron: "0 0 * * 0" });
    assert.deepEqual(
      resolveDeploySpec("F", raw({ schedules: [{ cron: "  */15   1-5 * JAN-MAR mon,fri " }] })).schedule,
      { cron: "*/15 1-5 * JAN-MAR mon,fri" },
    );
  });

  it("reports every problem at once, naming the flow, the option, the value and what is allowed", () => {
    const p = problemsOf("BadFlow", {
      schedules: [{ cron: "61 * * *", timezone: "Mars/Olympus", every: "minute" }],
      triggers: [{ event: "" }, { event: "ok", extra: 1 }],
      triggerOnFinish: [{ flow: "BadFlow" }, { flow: "not a class" }],
    });
    assert.deepEqual(p, [
      '@schedule every = "minute" is an unknown option; allowed: cron, timezone, hourly, daily, weekly',
      '@schedule cron = "61 * * *" is invalid: expected 5 fields (minute hour day-of-month month day-of-week), got 4',
      '@schedule timezone = "Mars/Olympus" is invalid; expected an IANA time zone such as "UTC" or "Europe/Paris"',
      "@trigger event = \"\" is invalid; expected 1-63 letters, digits, '.', '_' or '-' starting with a letter or digit",
      "@trigger extra = 1 is an unknown option; allowed: event",
      '@triggerOnFinish flow = "BadFlow" is invalid; a flow cannot trigger itself',
      '@triggerOnFinish flow = "not a class" is invalid; expected the class name of a deployed flow',
    ]);
  });

  it("needs exactly one of cron, hourly, daily, weekly, and one @schedule", () => {
    assert.deepEqual(problemsOf("F", { schedules: [{}] }), [
      "@schedule needs exactly one of cron, hourly, daily, weekly (got none)",
    ]);
    assert.deepEqual(problemsOf("F", { schedules: [{ cron: "* * * * *", daily: true }] }), [
      "@schedule needs exactly one of cron, hourly, daily, weekly (got cron and daily)",
    ]);
    assert.deepEqual(problemsOf("F", { schedules: [{ hourly: "yes" }] }), [
      '@schedule hourly = "yes" is invalid; expected true',
      "@schedule needs exactly one of cron, hourly, daily, weekly (got none)",
    ]);
    assert.deepEqual(problemsOf("F", { schedules: [{ daily: true }, { hourly: true }] }), [
      "@schedule is applied 2 times; a flow has one schedule",
    ]);
    assert.deepEqual(problemsOf("F", { schedules: ["0 * * * *"] }), [
      '@schedule = "0 * * * *" is invalid; expected { cron, timezone? } or { hourly | daily | weekly: true }',
    ]);
    assert.deepEqual(problemsOf("F", { schedules: [{ cron: 5 }] }), [
      '@schedule cron = 5 is invalid; expected a string like "0 * * * *"',
    ]);
  });

  it("checks every cron field: range, names, steps, lists, backwards ranges", () => {
    assert.deepEqual(cronProblems("* * * * *"), []);
    assert.deepEqual(cronProblems("0,30 8-18/2 1 */3 1-5"), []);
    assert.deepEqual(cronProblems("0 0 ? * SUN"), []);
    assert.deepEqual(cronProblems("0 0 * * 7"), []);
    assert.deepEqual(cronProblems(""), ["expected 5 fields (minute hour day-of-month month day-of-week), got 0"]);
    assert.deepEqual(cronProblems("60 24 0 13 8"), [
      'minute field "60": "60" is out of range (allowed: 0-59, *, ranges a-b, steps /n, lists a,b)',
      'hour field "24": "24" is out of range (allowed: 0-23, *, ranges a-b, steps /n, lists a,b)',
      'day of month field "0": "0" is out of range (allowed: 1-31, *, ranges a-b, steps /n, lists a,b)',
      'month field "13": "13" is out of range (allowed: 1-12 or JAN-DEC, *, ranges a-b, steps /n, lists a,b)',
      'day of week field "8": "8" is out of range (allowed: 0-7 or SUN-SAT, *, ranges a-b, steps /n, lists a,b)',
    ]);
    assert.deepEqual(cronProblems("*/0 5-1 * FOO *"), [
      'minute field "*/0": step "0" must be a whole number > 0 (allowed: 0-59, *, ranges a-b, steps /n, lists a,b)',
      'hour field "5-1": range "5-1" runs backwards (allowed: 0-23, *, ranges a-b, steps /n, lists a,b)',
      'month field "FOO": "FOO" is not a number or name (allowed: 1-12 or JAN-DEC, *, ranges a-b, steps /n, lists a,b)',
    ]);
    assert.deepEqual(cronProblems("1,,2 * * * *"), [
      'minute field "1,,2": "" is not a value, range or step (allowed: 0-59, *, ranges a-b, steps /n, lists a,b)',
    ]);
  });

  it("knows IANA time zones", () => {
    assert.ok(isTimeZone("UTC"));
    assert.ok(isTimeZone("America/New_York"));
    assert.ok(!isTimeZone("Mars/Olympus"));
    assert.ok(!isTimeZone(""));
    assert.ok(!isTimeZone("+02:00"));
  });
});
