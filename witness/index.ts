import { NoteError, parseNote, verifyNote } from "../worker/log/note.ts";
import { MAX_ADD_CHECKPOINT_BYTES, WitnessProtocolError, cosign, parseAddCheckpoint, parseTlogCheckpoint } from "../worker/log/witness.ts";
import { logVerifiers, witnessSigner, type WitnessEnv } from "./config.ts";

export { WitnessLog } from "./WitnessLog.ts";

/**
 * A minimal C2SP tlog-witness (https://c2sp.org/tlog-witness) for Warden's device logs: a second
 * worker with its own Durable Object per log origin, so the test run and `npm start` have a real
 * witness, and an operator can run one independently of the Warden it watches.
 *
 *     POST /add-checkpoint   the tlog-witness submission; 200 with a cosignature line
 *     GET  /                 the witness's name and vkey (text/plain)
 */
export default {
  async fetch(request: Request, env: WitnessEnv): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/" && request.method === "GET") {
      const signer = await witnessSigner(env);
      return new Response(`${signer.name}\n${signer.vkey}\n`, { headers: { "content-type": "text/plain; charset=utf-8" } });
    }
    if (url.pathname !== "/add-checkpoint") return text(404, "not found");
    if (request.method !== "POST") return text(405, "POST only");
    try {
      return await addCheckpoint(request, env);
    } catch (error) {
      if (error instanceof WitnessProtocolError) {
        if (error.status === 409 && error.size !== undefined) return new Response(`${error.size}\n`, { status: 409, headers: { "content-type": "text/x.tlog.size" } });
        return text(error.status, error.message);
      }
      console.error(JSON.stringify({ event: "witness.failed", error: String(error) }));
      return text(500, "internal error");
    }
  },
} satisfies ExportedHandler<WitnessEnv>;

function text(status: number, body: string): Response {
  return new Response(`${body}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

async function addCheckpoint(request: Request, env: WitnessEnv): Promise<Response> {
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > MAX_ADD_CHECKPOINT_BYTES) throw new WitnessProtocolError(400, "request too large");
  let body: string;
  try {
    body = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new WitnessProtocolError(400, "the body is not UTF-8");
  }
  const submission = parseAddCheckpoint(body);
  const note = parseNote(submission.checkpoint);
  const checkpoint = parseTlogCheckpoint(note.text);
  const verifiers = await logVerifiers(env, checkpoint.origin);
  if (!verifiers) throw new WitnessProtocolError(404, `unknown log ${checkpoint.origin}`);
  try {
    await verifyNote(note, verifiers);
  } catch (error) {
    if (error instanceof NoteError) throw new WitnessProtocolError(403, `the checkpoint is not signed by the log's key (${error.code})`);
    throw error;
  }
  if (submission.oldSize > checkpoint.size) throw new WitnessProtocolError(400, "the old size is larger than the checkpoint's");
  const stub = env.WITNESS_LOGS.get(env.WITNESS_LOGS.idFromName(checkpoint.origin));
  const outcome = await stub.add({
    oldSize: submission.oldSize,
    size: checkpoint.size,
    root: Buffer.from(checkpoint.root).toString("hex"),
    proof: submission.proof.map((hash) => Buffer.from(hash).toString("hex")),
    note: submission.checkpoint,
    now: Date.now(),
  });
  if (!outcome.ok) {
    console.warn(JSON.stringify({ event: "witness.refused", origin: checkpoint.origin, status: outcome.status, reason: outcome.reason }));
    throw new WitnessProtocolError(outcome.status, outcome.reason, outcome.status === 409 ? outcome.size : undefined);
  }
  const signer = await witnessSigner(env);
  const line = await cosign(signer, note.text, Math.floor(Date.now() / 1000));
  return new Response(line, { status: 200, headers: { "content-type": "text/plain; charset=utf-8" } });
}
