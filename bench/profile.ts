/**
 * Investigation aid (not part of `npm run bench`): a V8 CPU profile of the worker isolate
 * while it serves sequential `POST /v1/decisions`, then `POST /bench/append/:device`, taken
 * through the workerd inspector. Prints, per side, the sampled CPU time per request in the
 * user worker's isolate, split by where it was spent (cedar-wasm, crypto, zod, hono, …), and
 * the frames that took the most, inclusive of what they called — Durable Object alarms and
 * queue handlers of the same isolate included, which is how the event feed's prune was found.
 *
 *   node bench/profile.mjs [requests]     (default 1000 per side)
 *
 * The CPU profile counts samples in this isolate's thread only (idle = waiting on I/O or
 * on other threads, e.g. the Durable Object's storage, or the entry worker), so the
 * figures are CPU per request, not latency.
 */
import { createRequire } from "node:module";
import { WardenClient, generateDeviceKey } from "../cli/client.ts";
import { activateDefault } from "./bundles.ts";
import { DECISION } from "./http.ts";
import { startServer } from "./server.ts";

/** The few members of `ws` (installed with miniflare; Node 20 has no WebSocket client) used here. */
interface WsLike {
  on(event: "message", listener: (data: unknown) => void): void;
  once(event: "open" | "error", listener: (value: unknown) => void): void;
  send(data: string): void;
  close(): void;
}
const { WebSocket } = createRequire(import.meta.url)("ws") as { WebSocket: new (url: string) => WsLike };

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, (value: unknown) => void>();
  private constructor(private readonly socket: WsLike) {
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown };
      if (message.id !== undefined) this.pending.get(message.id)?.(message.error ? Promise.reject(new Error(JSON.stringify(message.error))) : message.result);
    });
  }
  static async open(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    return new Inspector(socket);
  }
  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve) => this.pending.set(id, resolve as (value: unknown) => void));
  }
  close() {
    this.socket.close();
  }
}

/** Where a frame belongs, by bundled function name and source position. */
function category(frame: ProfileNode["callFrame"]): string {
  const name = frame.functionName;
  if (frame.url.includes("wasm") || name.startsWith("wasm-function") || name.startsWith("$")) return "cedar-wasm";
  if (/^__wbg|^passStringToWasm|^getStringFromWasm|addHeapObject|takeObject|getObject|dropObject|handleError|debugString|isLikeNone/.test(name)) return "cedar-wasm glue";
  if (name === "(garbage collector)") return "GC";
  if (name === "(program)") return "(program: runtime, I/O, serialization)";
  if (name === "(idle)") return "(idle)";
  return "JS";
}

/** Sampling interval: coarse enough that the profiler does not distort the figures much. */
const SAMPLING_US = 200;
/** Frames listed per side, by inclusive time. */
const FRAMES_SHOWN = 60;

async function profileSide(inspector: Inspector, run: () => Promise<void>): Promise<Profile> {
  await inspector.send("Profiler.setSamplingInterval", { interval: SAMPLING_US });
  await inspector.send("Profiler.start");
  await run();
  const { profile } = await inspector.send<{ profile: Profile }>("Profiler.stop");
  return profile;
}

/** A frame as the profile names it: function, bundled file and line (the bundle keeps names, not lines of source). */
function frameKey(frame: ProfileNode["callFrame"]): string {
  return `${frame.functionName || "(anonymous)"}@${frame.url.split("/").pop() || "(native)"}:${frame.lineNumber}`;
}

/** What `requests` requests cost, over the profiles taken while they ran. */
function summarise(profiles: Profile[], requests: number) {
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  // Inclusive time per frame: each sample counts once for every distinct frame on its stack, so a
  // recursive function is not counted twice and an alarm or a queue handler shows beside the request.
  const frames = new Map<string, number>();
  let busy = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    profile.samples.forEach((id, index) => {
      const time = profile.timeDeltas[index] ?? 0;
      const frame = (byId.get(id) as ProfileNode).callFrame;
      const cat = category(frame);
      categories.set(cat, (categories.get(cat) ?? 0) + time);
      if (cat === "(idle)") return;
      busy += time;
      if (cat === "JS") functions.set(frame.functionName || "(anonymous)", (functions.get(frame.functionName || "(anonymous)") ?? 0) + time);
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const key = frameKey((byId.get(at) as ProfileNode).callFrame);
        if (seen.has(key)) continue;
        seen.add(key);
        frames.set(key, (frames.get(key) ?? 0) + time);
      }
    });
  }
  const perRequest = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .map(([key, time]) => [key, time / 1000 / requests] as const);
  return { busyMsPerRequest: busy / 1000 / requests, categories: perRequest(categories), functions: perRequest(functions).slice(0, 25), frames: perRequest(frames).slice(0, FRAMES_SHOWN) };
}

export async function runProfile(requests: number): Promise<void> {
  const server = await startServer({ inspectorPort: 0 });
  try {
    await activateDefault(server);
    const inspectorUrl = (await server.mf.getInspectorURL()).toString().replace(/\/$/, "");
    const targets = (await (await fetch(`${inspectorUrl.replace(/^ws/, "http")}/json`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
    const user = targets.find((target) => target.id === "core:user:");
    if (!user) throw new Error(`no user worker among inspector targets: ${targets.map((t) => t.id).join(", ")}`);
    const inspector = await Inspector.open(user.webSocketDebuggerUrl);
    await inspector.send("Profiler.enable");

    const deviceId = `profile-${crypto.randomUUID().slice(0, 8)}`;
    const client = new WardenClient({ url: server.url, deviceId, key: await generateDeviceKey("EdDSA") });
    if ((await client.register(server.adminToken, "linux")).status !== 201) throw new Error("registration failed");
    const token = await client.openSession();
    const body = JSON.stringify(DECISION);
    const decisions = async (n: number) => {
      const proofs: string[] = [];
      for (let i = 0; i < n; i += 1) proofs.push(await client.proof("POST", "/v1/decisions", { accessToken: token }));
      return async () => {
        for (const dpop of proofs) {
          const response = await fetch(`${server.url}/v1/decisions`, { method: "POST", headers: { "content-type": "application/json", authorization: `DPoP ${token}`, dpop }, body });
          if (response.status !== 200) throw new Error(`decision ${response.status}: ${await response.text()}`);
          await response.arrayBuffer();
        }
      };
    };
    const appends = (n: number) => async () => {
      for (let i = 0; i < n; i += 1) {
        const response = await fetch(`${server.url}/bench/append/${deviceId}`, { method: "POST", headers: { "content-type": "application/json" }, body });
        if (response.status !== 200) throw new Error(`append ${response.status}`);
        await response.arrayBuffer();
      }
    };
    // Warm-up, unprofiled.
    await (await decisions(200))();
    await appends(200)();

    const results: Record<string, ReturnType<typeof summarise>> = {};
    // Proofs live 60 s: sign them in chunks just before each profiled chunk.
    const chunk = 500;
    const decisionProfiles: Profile[] = [];
    for (let done = 0; done < requests; done += chunk) decisionProfiles.push(await profileSide(inspector, await decisions(Math.min(chunk, requests - done))));
    const appendProfile = await profileSide(inspector, appends(requests));
    results["decision"] = summarise(decisionProfiles, requests);
    results["append"] = summarise([appendProfile], requests);
    inspector.close();

    for (const [side, summary] of Object.entries(results)) {
      console.log(`\n${side}: ${summary.busyMsPerRequest.toFixed(3)} ms CPU per request in the worker isolate (non-idle samples)`);
      console.log("  by category (ms/request): " + summary.categories.map(([key, value]) => `${key} ${value.toFixed(3)}`).join(", "));
      console.log("  top JS self time (ms/request): " + summary.functions.slice(0, 15).map(([key, value]) => `${key} ${value.toFixed(3)}`).join(", "));
      console.log("  inclusive per frame, function@file:line (ms/request):");
      for (const [key, value] of summary.frames) console.log(`    ${value.toFixed(3).padStart(7)}  ${key}`);
    }
  } finally {
    await server.mf.dispose();
  }
}
