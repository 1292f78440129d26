import type { ServiceContext } from "../context.ts";
import { StateError } from "../errors.ts";
import type { OcsfEvent } from "./ocsf.ts";

export interface EventPage {
  events: { cursor: number; event: OcsfEvent }[];
  next: number;
  oldest: number;
  head: number;
}

/** A page of the tenant's OCSF events after `after` (from the oldest kept when absent), in cursor order. */
export async function readEvents(ctx: ServiceContext, query: { after?: number | undefined; limit: number }): Promise<EventPage> {
  const page = await ctx.deps.eventFeed(ctx.env, ctx.env.TENANT).read(query.after ?? null, query.limit);
  if (!page.ok) throw new StateError(page.code, `events after ${query.after} are no longer kept`);
  // The feed stores what this worker's own mapping produced: it is read back as such.
  return { ...page, events: page.events.map(({ cursor, event }) => ({ cursor, event: JSON.parse(event) as OcsfEvent })) };
}
