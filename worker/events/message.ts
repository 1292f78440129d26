import type { OcsfEvent } from "./ocsf.ts";

/** One event for one sink, as the tenant's feed puts it on the queue. */
export interface EventMessage {
  tenant: string;
  sink: string;
  /** The event's place in the tenant's feed (`GET /v1/events`). */
  cursor: number;
  event: OcsfEvent;
}

/** The queue events are pushed through, and the one its consumer dead-letters to (wrangler.jsonc). */
export const EVENTS_QUEUE = "warden-events";
export const EVENTS_DEAD_LETTER_QUEUE = "warden-events-dlq";

/** Where a dead-lettered event is parked: per tenant and sink, named by cursor and uid. */
export function parkedKey(message: EventMessage): string {
  return `events/dead-letter/${message.tenant}/${message.sink}/${String(message.cursor).padStart(12, "0")}-${message.event.metadata.uid}.json`;
}
