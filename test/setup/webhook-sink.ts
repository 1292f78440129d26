/**
 * Node-side receiver for review webhooks in the workerd tests (wired in vitest.config.mts).
 * The worker's outbound fetches to `hooks.warden.test` land here and are recorded with their
 * headers and body; anything else is refused, since tests have no outbound network. Tests read the record through
 * the `WEBHOOK_SINK` service binding and can make the next deliveries for one review fail.
 */

export const WEBHOOK_HOST = "hooks.warden.test";

interface Delivery {
  url: string;
  headers: Record<string, string>;
  body: string;
  status: number;
  review_id: string | null;
}

const deliveries: Delivery[] = [];
/** Review id → how many more deliveries for it answer 503. */
const failures = new Map<string, number>();

/** miniflare `outboundService`: records webhook deliveries and refuses every other outbound request. */
export async function webhookOutbound(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.hostname !== WEBHOOK_HOST) return new Response(`tests have no outbound network (${url.hostname})`, { status: 502 });
  const body = await request.text();
  let reviewId: string | null = null;
  try {
    reviewId = (JSON.parse(body) as { review_id?: string }).review_id ?? null;
  } catch {
    reviewId = null;
  }
  const failing = reviewId === null ? 0 : (failures.get(reviewId) ?? 0);
  if (failing > 0) failures.set(reviewId!, failing - 1);
  const status = failing > 0 ? 503 : 204;
  deliveries.push({ url: request.url, headers: Object.fromEntries(request.headers), body, status, review_id: reviewId });
  return new Response(null, { status });
}

/** miniflare service binding `WEBHOOK_SINK`: `GET /?review=<id>` lists deliveries, `POST /fail {review_id, times}` arms failures. */
export async function webhookSink(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (request.method === "POST" && url.pathname === "/fail") {
    const { review_id, times } = (await request.json()) as { review_id: string; times: number };
    failures.set(review_id, times);
    return new Response(null, { status: 204 });
  }
  const review = url.searchParams.get("review");
  return Response.json(deliveries.filter((delivery) => review === null || delivery.review_id === review));
}
