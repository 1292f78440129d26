/**
 * Node-side receiver for review webhooks in the workerd tests (wired in vitest.config.mts
 * through test/setup/outbound.ts). The worker's outbound fetches to `hooks.warden.test` land
 * here and are recorded with their headers and body. Tests read the record through the
 * `WEBHOOK_SINK` service binding and can make the next deliveries for one review fail.
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
/** `<review id>` or `<review id> <event type>` → how many more such deliveries answer 503. */
const failures = new Map<string, number>();

/** Records one webhook delivery to `hooks.warden.test`. */
export async function webhookOutbound(request: Request): Promise<Response> {
  const body = await request.text();
  let reviewId: string | null = null;
  let type: string | null = null;
  try {
    ({ review_id: reviewId = null, type = null } = JSON.parse(body) as { review_id?: string; type?: string });
  } catch {
    reviewId = null;
  }
  const armed = [`${reviewId} ${type}`, `${reviewId}`].find((key) => reviewId !== null && (failures.get(key) ?? 0) > 0);
  const failing = armed === undefined ? 0 : failures.get(armed)!;
  if (armed !== undefined) failures.set(armed, failing - 1);
  const status = failing > 0 ? 503 : 204;
  deliveries.push({ url: request.url, headers: Object.fromEntries(request.headers), body, status, review_id: reviewId });
  return new Response(null, { status });
}

/**
 * miniflare service binding `WEBHOOK_SINK`: `GET /?review=<id>` lists deliveries, `POST /fail
 * {review_id, type?, times}` arms failures (of one event type only, when `type` is given).
 */
export async function webhookSink(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (request.method === "POST" && url.pathname === "/fail") {
    const { review_id, type, times } = (await request.json()) as { review_id: string; type?: string; times: number };
    failures.set(type === undefined ? review_id : `${review_id} ${type}`, times);
    return new Response(null, { status: 204 });
  }
  const review = url.searchParams.get("review");
  return Response.json(deliveries.filter((delivery) => review === null || delivery.review_id === review));
}
