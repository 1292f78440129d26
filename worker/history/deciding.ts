import type { CompiledBundle } from "../policy/bundle.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";
import type { DecisionBundle } from "./declarations.ts";

/** What the device's Durable Object keeps history under, from a compiled bundle. */
export function decisionBundle(bundle: CompiledBundle): DecisionBundle {
  return { digest: bundle.digest, history: bundle.history, tiers: [...bundle.tierOrder] };
}

/**
 * The bundle that decides for a device now, as a decision would choose it, for entries logged
 * outside a decision that its history declarations judge (refused session evidence). Null when
 * none loads: the entry is then logged under the declarations the device already keeps.
 */
export async function decidingBundle(env: Env, device: { tenant: string; id: string; groups: readonly string[] }, now: number): Promise<DecisionBundle | null> {
  try {
    const chosen = bundleFor(await loadDeployment(env, env.TENANT, now), device, now);
    return chosen.ok ? decisionBundle(chosen.bundle) : null;
  } catch (error) {
    console.warn(JSON.stringify({ event: "history.bundle_unavailable", device: device.id, error: String(error) }));
    return null;
  }
}
