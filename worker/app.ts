import "./policy/cedar-workerd.ts";
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { EvidenceRefusal, MalformedInputError, WardenError } from "./errors.ts";
import { StrictJsonError, parseStrictJson, type JsonValue } from "./json/strict.ts";
import type { Context, Next } from "hono";
import { runtimeDeps, type AppEnv, type Deps } from "./context.ts";
import { describeApi, router } from "./openapi.ts";
import { problemFor, problemResponse } from "./problem.ts";
import { actions } from "./routes/actions.ts";
import { attestation } from "./routes/attestation.ts";
import { tpm } from "./routes/tpm.ts";
import { audit } from "./routes/audit.ts";
import { bundles } from "./routes/bundles.ts";
import { decisions } from "./routes/decisions.ts";
import { devices } from "./routes/devices.ts";
import { events } from "./routes/events.ts";
import { logs } from "./routes/logs.ts";
import { reviewers } from "./routes/reviewers.ts";
import { reviews } from "./routes/reviews.ts";
import { reviewPages } from "./routes/review-page.ts";
import { wellKnown } from "./routes/well-known.ts";
import { agents } from "./routes/agents.ts";
import { consents } from "./routes/consents.ts";
import { vault } from "./routes/vault.ts";
import { legalHolds } from "./routes/legal-hold.ts";
import { docs } from "./docs-page.ts";
import packageJson from "../package.json";

/** Request bodies above this are refused before anything parses them. */
export const MAX_BODY_BYTES = 64 * 1024;
/**
 * Routes that take attestation evidence take more: a measured-boot event log is tens of
 * kilobytes (a Windows one often over 64 KiB in base64), an Azure CVM's evidence some 40.
 */
export const MAX_EVIDENCE_BODY_BYTES = 1024 * 1024;
const EVIDENCE_ROUTES: ReadonlySet<string> = new Set(["/v1/sessions", "/v1/attestation/results"]);

const JSON_MEDIA_TYPE = /^application\/json(\s*;|$)/i;

/** Reads the (size-capped) body with the strict JSON reader, which every route's validator then reads through. */
async function readStrictJson(c: Context<AppEnv>, next: Next): Promise<void> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  // No text at all is left to the route: one without a body ignores it, one with a body schema refuses it.
  if (bytes.length === 0) return next();
  let body: JsonValue;
  try {
    body = parseStrictJson(bytes);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    // Refused through onError, so it is logged; the reader's message names its code and offset, never the input.
    throw new MalformedInputError("malformed_json", `the body is not strict JSON (${error.message})`, { cause: error });
  }
  // Hono's json() re-parses the cached text with JSON.parse; every validator reads through it, so it
  // answers with the strict reading instead (seeding bodyCache cannot: json() reads only its "text").
  c.req.json = <T>() => Promise.resolve(body as T);
  return next();
}

/** Builds the Warden app around its dependencies; `worker/index.ts` passes the runtime ones. */
export function createApp(deps: Deps = runtimeDeps) {
  const app = router();

  app.use("*", async function injectDeps(c, next) {
    c.set("deps", deps);
    await next();
  });
  const limitDefault = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: () => problemResponse("payload_too_large") });
  const limitEvidence = bodyLimit({ maxSize: MAX_EVIDENCE_BODY_BYTES, onError: () => problemResponse("payload_too_large") });
  // One middleware for the media type, the size cap and the strict read: each step read the
  // headers again and added an async layer to every request on the decision path.
  app.use("/v1/*", async function strictJsonBody(c, next) {
    const type = c.req.raw.headers.get("content-type") ?? "";
    const json = JSON_MEDIA_TYPE.test(type);
    if ((c.req.method === "POST" || c.req.method === "PUT") && !json) return problemResponse("unsupported_media_type");
    if (!c.req.raw.body) return next();
    const limit = EVIDENCE_ROUTES.has(c.req.path) ? limitEvidence : limitDefault;
    return limit(c, json ? () => readStrictJson(c, next) : next);
  });

  app.route("/", wellKnown);
  app.route("/", devices);
  app.route("/", logs);
  app.route("/", audit);
  app.route("/", attestation);
  app.route("/", tpm);
  app.route("/", decisions);
  app.route("/", actions);
  app.route("/", bundles);
  app.route("/", reviews);
  app.route("/", reviewers);
  app.route("/", reviewPages);
  app.route("/", events);
  app.route("/", consents);
  app.route("/", agents);
  app.route("/", vault);
  app.route("/", legalHolds);

  describeApi(app, packageJson.version);
  app.route("/", docs);

  app.notFound(() => problemResponse("not_found"));
  app.onError((error, c) => {
    if (error instanceof WardenError) {
      const serverSide = problemFor(error.code).status >= 500;
      const record = { event: serverSide ? "request.failed" : "request.refused", code: error.code, message: error.message, path: c.req.path };
      if (serverSide) console.error(JSON.stringify({ ...record, cause: String(error.cause ?? ""), stack: error.stack }));
      else console.warn(JSON.stringify(record));
      return problemResponse(error.code, error instanceof EvidenceRefusal ? { evidenceCode: error.evidenceCode } : {});
    }
    if (error instanceof HTTPException && error.status === 400) return problemResponse("malformed_request");
    if (error instanceof HTTPException && error.status === 413) return problemResponse("payload_too_large");
    console.error(JSON.stringify({ event: "request.failed", path: c.req.path, error: String(error), stack: error instanceof Error ? error.stack : undefined }));
    return problemResponse("internal_error");
  });
  return app;
}
