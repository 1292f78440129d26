import { describe, expect, it } from "vitest";
import { compileForTest } from "../../cli/bundle-runner.ts";
import { BundleError, type BundleSources } from "../../worker/policy/artifact.ts";
import { historyReads } from "../../worker/history/declarations.ts";
import { policyToJson } from "../../worker/policy/cedar.ts";
import { defaultSources } from "../helpers.ts";

// A manifest's history declarations are checked when the bundle compiles (as activation does),
// and each kind of malformation is refused with its own code. Every row starts from the example
// bundle and changes one thing.

const manifest = defaultSources.manifest as Record<string, unknown> & { history: Record<string, unknown>; detections: Record<string, unknown> };

function withManifest(change: (copy: typeof manifest) => void, sources: Partial<BundleSources> = {}): BundleSources {
  const copy = structuredClone(manifest);
  change(copy);
  return { ...defaultSources, ...sources, manifest: copy as unknown as BundleSources["manifest"] };
}

function refusal(sources: BundleSources): string {
  try {
    compileForTest(sources);
  } catch (error) {
    if (error instanceof BundleError) return error.code;
    throw error;
  }
  return "compiled";
}

const deletes = (patch: Record<string, unknown>) => (copy: typeof manifest) => {
  copy.history["deletes_60s"] = { ...(copy.history["deletes_60s"] as object), ...patch };
};

describe("history declarations refused at compile time, each with its own code", () => {
  it.each([
    ["an unknown feature kind", deletes({ kind: "rate" }), "bundle_history_invalid"],
    ["a window of 0", deletes({ window_seconds: 0 }), "bundle_history_invalid"],
    ["a window over 7 days", deletes({ window_seconds: 7 * 86400 + 1 }), "bundle_history_invalid"],
    ["a max over 1000", deletes({ max: 1001 }), "bundle_history_invalid"],
    ["a field the kind does not take", deletes({ field: "host" }), "bundle_history_invalid"],
    ["a filter condition that does not exist", deletes({ filter: { verb: "delete" } }), "bundle_history_invalid"],
    ["a filter naming a path class the manifest lacks", deletes({ filter: { class: "payroll" } }), "bundle_history_invalid"],
    ["a path prefix that is not canonical", deletes({ filter: { path_prefix: "/home/dev/../etc" } }), "bundle_history_invalid"],
    [
      "a feature name Cedar cannot read as an attribute",
      (copy: typeof manifest) => {
        copy.history["Deletes-60s"] = copy.history["deletes_60s"];
      },
      "bundle_history_invalid",
    ],
    [
      "more than 32 features",
      (copy: typeof manifest) => {
        for (let i = 0; i < 33; i += 1) copy.history[`f${i}`] = { kind: "formerly", filter: {} };
      },
      "bundle_history_invalid",
    ],
    [
      "features keeping more events per device than the bound",
      (copy: typeof manifest) => {
        for (let i = 0; i < 9; i += 1) copy.history[`f${i}`] = { kind: "count_within", filter: {}, window_seconds: 60, max: 1000 };
      },
      "bundle_history_invalid",
    ],
    [
      "a detection over an undeclared feature",
      (copy: typeof manifest) => {
        copy.detections["probe-burst"] = { ...(copy.detections["probe-burst"] as object), when: [{ feature: "nope", op: ">=", value: 1 }] };
      },
      "bundle_detection_invalid",
    ],
    [
      "a detection comparing a Long with a Bool",
      (copy: typeof manifest) => {
        copy.detections["probe-burst"] = { ...(copy.detections["probe-burst"] as object), when: [{ feature: "denials_60s", op: "==", value: true }] };
      },
      "bundle_detection_invalid",
    ],
    [
      "a detection at a tier the manifest lacks",
      (copy: typeof manifest) => {
        copy.detections["probe-burst"] = { ...(copy.detections["probe-burst"] as object), tier: "tier9" };
      },
      "bundle_detection_invalid",
    ],
    [
      "a detection with an unknown severity",
      (copy: typeof manifest) => {
        copy.detections["probe-burst"] = { ...(copy.detections["probe-burst"] as object), severity: "urgent" };
      },
      "bundle_detection_invalid",
    ],
    [
      "a playbook step naming a rule that is not a detection",
      (copy: typeof manifest) => {
        copy["playbook"] = { findings: [{ rule: "nope", action: "quarantine" }] };
      },
      "bundle_playbook_invalid",
    ],
    [
      "a playbook step naming both a rule and a severity",
      (copy: typeof manifest) => {
        copy["playbook"] = { findings: [{ rule: "probe-burst", min_severity: "high", action: "quarantine" }] };
      },
      "bundle_playbook_invalid",
    ],
    [
      "a playbook hold at a tier the manifest lacks",
      (copy: typeof manifest) => {
        copy["playbook"] = { findings: [{ rule: "probe-burst", action: "review_all", tier: "tier9" }] };
      },
      "bundle_playbook_invalid",
    ],
    [
      "an unknown playbook action",
      (copy: typeof manifest) => {
        copy["playbook"] = { findings: [{ rule: "probe-burst", action: "wipe" }] };
      },
      "bundle_playbook_invalid",
    ],
  ])("%s", (_, change, code) => {
    expect(refusal(withManifest(change))).toBe(code);
  });

  it("refuses a schema whose context.history does not match the declarations (missing, extra, wrong type)", () => {
    const schema = defaultSources.schema;
    const missing = schema.replace("  denials_60s: Long,\n", "");
    const extra = schema.replace("  denials_60s: Long,\n", "  denials_60s: Long,\n  extra: Long,\n");
    const wrongType = schema.replace("  deletes_60s: Long,", "  deletes_60s: Bool,");
    const optional = schema.replace("  deletes_60s: Long,", "  deletes_60s?: Long,");
    for (const changed of [missing, extra, wrongType, optional]) {
      expect(changed).not.toBe(schema);
      expect(refusal({ ...defaultSources, schema: changed })).toBe("bundle_history_schema_mismatch");
    }
  });

  it("refuses history in the schema when the manifest declares none", () => {
    expect(refusal(withManifest((copy) => {
      delete (copy as Record<string, unknown>)["history"];
      delete (copy as Record<string, unknown>)["detections"];
    }))).toBe("bundle_history_schema_mismatch");
  });

  it("compiles the example bundle, its policies reading the two features they name", () => {
    const bundle = compileForTest(defaultSources);
    expect(bundle.history.read).toEqual(["customer_data_read_30m", "deletes_60s"]);
    expect(Object.keys(bundle.history.features)).toEqual(["customer_data_read_30m", "deletes_60s", "denials_60s"]);
    expect(bundle.history.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe("which features policies read", () => {
  const conditions = (text: string) => {
    const parsed = policyToJson(text);
    if (parsed.type !== "success") throw new Error("does not parse");
    return parsed.json.conditions;
  };

  it.each([
    ['permit (principal, action, resource) when { context.history.a > 1 && context.history has b };', ["a", "b"]],
    ['permit (principal, action, resource) when { context.now > 1 };', []],
    ['permit (principal, action, resource) when { context has history };', []],
  ])("%s", (policy, read) => {
    expect(historyReads(conditions(policy))).toEqual(read);
  });

  it.each([
    'permit (principal, action, resource) when { context.history == { "a": true } };',
    'permit (principal, action, resource) when { context == { "now": 1 } };',
  ])("reads every feature when history (or the whole context) is used as a value: %s", (policy) => {
    expect(historyReads(conditions(policy))).toBeNull();
  });
});
