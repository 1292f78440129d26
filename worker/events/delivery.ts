import type { Deps } from "../context.ts";
import { putCreateOnly } from "../r2.ts";
import { parkedKey, type EventMessage } from "./message.ts";
import { deliver, sinksFrom, type Sink } from "./sinks.ts";

/**
 * The queue consumer: delivers each sink's share of the batch in one request in its format and
 * acknowledges what the sink took; the rest is retried after `EVENT_RETRY_SECONDS`, and once the
 * queue's retries are spent it goes to the dead-letter queue, whose consumer parks it in R2
 * ({@link parkDeadLetters}). Delivery is at least once; sinks deduplicate by the event's uid
 * (Elastic does by `_id`; webhook and HEC receivers get the uid in every event).
 */
export async function deliverEvents(batch: MessageBatch<EventMessage>, env: Env, deps: Pick<Deps, "fetch" | "now">): Promise<void> {
  const retry = { delaySeconds: retrySeconds(env) };
  const configured = sinksFrom(env);
  if (!configured.ok) {
    console.error(JSON.stringify({ event: "events.sinks_refused", ...configured.problem }));
    batch.retryAll(retry);
    return;
  }
  const bySink = new Map<string, Message<EventMessage>[]>();
  for (const message of batch.messages) bySink.set(message.body.sink, [...(bySink.get(message.body.sink) ?? []), message]);
  await Promise.all(
    [...bySink].map(async ([name, messages]) => {
      const sink = configured.sinks.find((candidate) => candidate.name === name);
      if (!sink) {
        // A sink removed from the configuration: its events are parked, not dropped.
        await Promise.all(messages.map((message) => park(env, message.body)));
        for (const message of messages) message.ack();
        console.error(JSON.stringify({ event: "events.sink_unknown", sink: name, parked: messages.length }));
        return;
      }
      await deliverTo(sink, messages, deps, retry);
    }),
  );
}

async function deliverTo(sink: Sink, messages: Message<EventMessage>[], deps: Pick<Deps, "fetch" | "now">, retry: QueueRetryOptions): Promise<void> {
  // A redelivered copy of an event in the same batch goes once.
  const unique = new Map(messages.map((message) => [message.body.event.metadata.uid, message.body.event]));
  const result = await deliver(sink, [...unique.values()], deps.fetch, deps.now());
  for (const message of messages) {
    if (result.delivered.has(message.body.event.metadata.uid)) message.ack();
    else message.retry(retry);
  }
  if (result.failed.size > 0) console.error(JSON.stringify({ event: "events.delivery_failed", sink: sink.name, failed: result.failed.size, attempts: Math.max(...messages.map((m) => m.attempts)) }));
}

/** The dead-letter consumer: every event whose retries are spent is kept in the archive bucket, create-only. */
export async function parkDeadLetters(batch: MessageBatch<EventMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    try {
      await park(env, message.body);
      message.ack();
    } catch (error) {
      console.error(JSON.stringify({ event: "events.park_failed", sink: message.body.sink, uid: message.body.event.metadata.uid, error: String(error) }));
      message.retry({ delaySeconds: retrySeconds(env) });
    }
  }
}

function park(env: Env, message: EventMessage): Promise<void> {
  return putCreateOnly(env.ARCHIVE, parkedKey(message), JSON.stringify(message), { contentType: "application/json" });
}

function retrySeconds(env: Pick<Env, "EVENT_RETRY_SECONDS">): number {
  const seconds = Number(env.EVENT_RETRY_SECONDS ?? 30);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : 30;
}
