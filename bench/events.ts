/**
 * Part L: a decision with OCSF event production on and off (docs/siem.md), side by side in one
 * server. Two devices on the same worker and bundle: the object of `events-on-…` notes each entry
 * in its outbox in the append's transaction and kicks the forward to the tenant's EventFeed after
 * the commit, as production does; the object of `events-off-…` is built with no event feed
 * (bench/worker.ts `DeviceLog`), so its appends note nothing and forward nothing. Sequential
 * decisions in interleaved blocks, proofs signed ahead of each block, as part A.
 */
import { WardenClient, generateDeviceKey } from "../cli/client.ts";
import { EVENTS_OFF_PREFIX } from "./events-switch.ts";
import { stats, timedPermits, type SideStats } from "./http.ts";

export interface EventsOptions {
  warmup: number;
  /** Decisions per side, in `blocks` interleaved blocks. */
  sequential: number;
  blocks: number;
}

export interface EventsResults {
  options: EventsOptions;
  on: SideStats;
  off: SideStats;
  /** Events the feed holds for the `on` device's entries afterwards: it produced them. */
  produced: number;
}


async function readyClient(url: string, adminToken: string, id: string): Promise<{ client: WardenClient; token: string }> {
  const client = new WardenClient({ url, deviceId: id, key: await generateDeviceKey("EdDSA") });
  const registered = await client.register(adminToken, "linux");
  if (registered.status !== 201) throw new Error(`registration of ${id} failed: ${registered.status}`);
  return { client, token: await client.openSession() };
}

export async function runEvents(server: { url: string; adminToken: string }, options: EventsOptions, log: (line: string) => void = () => {}): Promise<EventsResults> {
  const { url, adminToken } = server;
  const suffix = crypto.randomUUID().slice(0, 8);
  const sides = {
    on: await readyClient(url, adminToken, `events-on-${suffix}`),
    off: await readyClient(url, adminToken, `${EVENTS_OFF_PREFIX}${suffix}`),
  };
  const body = (i: number) => JSON.stringify({ agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.write", targets: [{ kind: "path", value: `/home/dev/workspace/src/f-${i % 50}.ts` }] } });
  const samples: { on: number[]; off: number[] } = { on: [], off: [] };
  const run = (side: "on" | "off", count: number, record: boolean) => timedPermits(url, sides[side], count, body, record ? samples[side] : null);
  await run("on", options.warmup, false);
  await run("off", options.warmup, false);
  const perBlock = Math.ceil(options.sequential / options.blocks);
  for (let block = 0; block < options.blocks; block += 1) {
    // The order flips every block, so drift hits both sides alike.
    const order: ("on" | "off")[] = block % 2 === 0 ? ["on", "off"] : ["off", "on"];
    for (const side of order) await run(side, perBlock, true);
  }
  // The feed took the on-device's entries (forwarded after each commit), and none of the off-device's.
  const feed = await fetch(`${url}/v1/events?limit=1000`, { headers: { authorization: `Bearer ${adminToken}` } });
  const page = (await feed.json()) as { events?: { event: { device?: { uid?: string } } }[] };
  const events = (page.events ?? []).map((item) => item.event);
  const produced = events.filter((event) => event.device?.uid === sides.on.client.deviceId).length;
  const quiet = events.filter((event) => event.device?.uid === sides.off.client.deviceId).length;
  if (quiet > 0) throw new Error(`the events-off device produced ${quiet} events`);
  const results = { options, on: stats(samples.on), off: stats(samples.off), produced };
  log(`  events on: p50 ${results.on.p50.toFixed(2)} ms; off: p50 ${results.off.p50.toFixed(2)} ms; ${produced} events in the feed's first page for the on device`);
  return results;
}
