import { createApp } from "./app.ts";
import { runtimeDeps } from "./context.ts";
import { deliverEvents, parkDeadLetters } from "./events/delivery.ts";
import { EVENTS_DEAD_LETTER_QUEUE, type EventMessage } from "./events/message.ts";

export { BundleRegistry } from "../durable-objects/BundleRegistry.ts";
export { DeviceLog } from "../durable-objects/DeviceLog.ts";
export { EventFeed } from "../durable-objects/EventFeed.ts";
export { ReviewHolds } from "../durable-objects/ReviewHolds.ts";
export { ReviewOutbox } from "../durable-objects/ReviewOutbox.ts";
export { ReviewerRegistry } from "../durable-objects/ReviewerRegistry.ts";
export { ConsentLedger } from "../durable-objects/ConsentLedger.ts";
export { AgentRegistry } from "../durable-objects/AgentRegistry.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  /** The events queue delivers to the SIEM sinks; its dead-letter queue parks what could not be delivered. */
  async queue(batch: MessageBatch<EventMessage>, env: Env): Promise<void> {
    if (batch.queue === EVENTS_DEAD_LETTER_QUEUE) await parkDeadLetters(batch, env);
    else await deliverEvents(batch, env, runtimeDeps);
  },
} satisfies ExportedHandler<Env, EventMessage>;
