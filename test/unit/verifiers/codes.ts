import type { EvidenceErrorCode } from "../../../worker/verifiers/errors.ts";

/** The verifier error code `run` fails with, or "ok": tables assert codes, never messages. */
export async function codeOf(run: () => Promise<unknown> | unknown): Promise<EvidenceErrorCode | "ok"> {
  try {
    await run();
    return "ok";
  } catch (error) {
    const code = (error as { code?: EvidenceErrorCode }).code;
    if (!code) throw error;
    return code;
  }
}
