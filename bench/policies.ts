/**
 * Synthetic policy bundles for the policy-evaluation benchmark (part B).
 *
 * Every bundle uses the default bundle's schema and manifest, and `count` policies
 * spread over many agents, all five actions and distinct paths/programs/hosts:
 *
 *   - per-agent permits (the bulk): policy i names `Agent::"agent-<i>"` and one action,
 *     cycling file.read, file.write, file.delete, command.exec, http.request, with a
 *     condition on its own path (`/data/<i>`), program (`tool-<i>`) or host;
 *   - per-agent forbids: every 10th policy forbids its agent any File under `secret-<i>`;
 *   - unscoped policies (any principal): every 50th policy, alternating a permit on
 *     file.read/file.write under `/shared/<i>` and a forbid on any action under `/blocked/<i>`
 *     (so 2% of the set lands in every agent's slice for a file action). Sets under 50
 *     policies end with one per-agent forbid and one unscoped policy of each kind instead.
 *
 * The benchmark request is `file.read` of `/data/<k>/report.txt` by `agent-<k>`, where
 * policy k is a file.read permit for that agent: it is permitted by exactly `p<k>`.
 */
import type { BundleSources } from "../worker/policy/artifact.ts";

const ACTIONS = ["file.read", "file.write", "file.delete", "command.exec", "http.request"] as const;

export interface GeneratedBundle {
  sources: BundleSources;
  /** Agent whose request is benchmarked, and the path it reads. */
  agentId: string;
  path: string;
  /** Policy expected to permit the benchmark request. */
  expectedPolicy: string;
  counts: { perAgentPermit: number; perAgentForbid: number; unscoped: number };
}

function policy(i: number, count: number): { text: string; kind: "perAgentPermit" | "perAgentForbid" | "unscoped" } {
  // Small sets (under 50) still get one unscoped permit, one unscoped forbid and one per-agent forbid, at their end.
  const small = count < 50;
  if (i % 50 === 49 || (small && i >= count - 2)) {
    if ((small ? i - (count - 2) : Math.floor(i / 50)) % 2 === 0) {
      return {
        kind: "unscoped",
        text: `@id("u${i}")\npermit (principal, action in [Action::"file.read", Action::"file.write"], resource)\nwhen { resource.within.contains("/shared/${i}") };`,
      };
    }
    return {
      kind: "unscoped",
      text: `@id("u${i}")\nforbid (principal, action, resource is File)\nwhen { resource.within.contains("/blocked/${i}") };`,
    };
  }
  if (i % 10 === 9 || (small && i === count - 3)) {
    return {
      kind: "perAgentForbid",
      text: `@id("f${i}")\nforbid (principal == Agent::"agent-${i}", action, resource is File)\nwhen { resource.segments.contains("secret-${i}") };`,
    };
  }
  const action = ACTIONS[i % ACTIONS.length];
  const head = `@id("p${i}")\npermit (principal == Agent::"agent-${i}", action == Action::"${action}", resource)\n`;
  switch (action) {
    case "command.exec":
      return { kind: "perAgentPermit", text: `${head}when { resource.program == "tool-${i}" };` };
    case "http.request":
      return { kind: "perAgentPermit", text: `${head}when { resource.scheme == "https" && resource.host == "host-${i}.example" };` };
    default:
      return { kind: "perAgentPermit", text: `${head}when { resource.within.contains("/data/${i}") };` };
  }
}

export function generateBundle(count: number, schema: string, manifest: BundleSources["manifest"]): GeneratedBundle {
  const texts: string[] = [];
  const counts = { perAgentPermit: 0, perAgentForbid: 0, unscoped: 0 };
  for (let i = 0; i < count; i += 1) {
    const { text, kind } = policy(i, count);
    texts.push(text);
    counts[kind] += 1;
  }
  // The benchmarked agent: one in the middle of the set whose policy is a file.read permit.
  let k = Math.floor(count / 2);
  while (policy(k, count).kind !== "perAgentPermit" || k % ACTIONS.length !== 0) k -= 1;
  return {
    sources: { policies: `${texts.join("\n\n")}\n`, schema, manifest },
    agentId: `agent-${k}`,
    path: `/data/${k}/report.txt`,
    expectedPolicy: `p${k}`,
    counts,
  };
}
