import type { JsonValue } from "../log/canonical.ts";
import type { ActionRequest, DeviceContext } from "../policy/decide.ts";
import { EMPTY_SPEC, type HistorySpec } from "./declarations.ts";
import { adopt, applyStanding, asLogged, decisionHistory, initialState, onEntry, type DecisionHistory, type HistoryState, type Standing } from "./effects.ts";
import { runtimeSpec, type RuntimeSpec } from "./state.ts";
import { pendingView } from "./views.ts";

/**
 * The decision service's copy of a device's history while it decides a batch: each request is
 * decided on the history its log entry will follow, so the second of a batch sees the first.
 * Appending here does what the device's Durable Object does at the append (the same
 * functions, worker/history/effects.ts): the logged form under the device's standing, the
 * features, findings and playbook. The object then checks every recorded value against the log.
 */
export class HistoryCursor {
  private readonly state: HistoryState;
  private readonly current: Standing;
  private seq: number;
  /** Every entry the history machinery raised so far (findings, playbook actions), in order. */
  readonly raised: { type: string; data: { [key: string]: JsonValue } }[] = [];

  constructor(
    private readonly runtime: RuntimeSpec,
    snapshot: { state: HistoryState; standing: Standing; head: number },
    private readonly tiers: readonly string[],
  ) {
    this.state = structuredClone(snapshot.state);
    this.current = { ...snapshot.standing };
    this.seq = snapshot.head;
  }

  /** A device with no history yet under `spec` (bundle tests, benchmarks). */
  static fresh(spec: HistorySpec, bundle: string, tiers: readonly string[]): HistoryCursor {
    const { state } = adopt(initialState(), EMPTY_SPEC, spec, bundle, [], 1);
    return new HistoryCursor(runtimeFor(spec), { state, standing: { quarantined: false, hold: null }, head: 0 }, tiers);
  }

  /**
   * The history as it stands after what was appended so far, as the device's object would hand
   * it over. It hands over the cursor's own state (the next cursor copies it): the cursor is done.
   */
  snapshot(): { state: HistoryState; standing: Standing; head: number } {
    return { state: this.state, standing: { ...this.current }, head: this.seq };
  }

  /** The device's standing after what was appended so far. */
  get standing(): Standing {
    return { ...this.current };
  }

  /** What the request is decided on. */
  historyFor(request: ActionRequest, device: Pick<DeviceContext, "os" | "shell">, now: number): DecisionHistory {
    return decisionHistory(this.runtime, this.state, pendingView(request, device, now), now);
  }

  /** Moves the history past a decision (as the object will log it) and whatever it raises. */
  followDecision(data: { [key: string]: JsonValue }, now: number): void {
    this.appendEntry("decision", asLogged(data, this.current, this.tiers).data, now, false);
  }

  private appendEntry(type: string, data: { [key: string]: JsonValue }, now: number, followed: boolean): void {
    this.seq += 1;
    const entry = { seq: this.seq, type, time: now, data };
    applyStanding(this.current, entry);
    const { follows } = onEntry(this.runtime, this.state, this.current, entry, followed);
    for (const follow of follows) {
      this.raised.push(follow);
      this.appendEntry(follow.type, follow.data, now, true);
    }
  }
}

const runtimes = new WeakMap<HistorySpec, RuntimeSpec>();

/** The compiled form of a bundle's spec, made once per spec object (a compiled bundle keeps its spec). */
export function runtimeFor(spec: HistorySpec): RuntimeSpec {
  let runtime = runtimes.get(spec);
  if (!runtime) {
    runtime = runtimeSpec(spec);
    runtimes.set(spec, runtime);
  }
  return runtime;
}
