/**
 * Every OCSF event the workerd suite produces is validated where it is made: the tests' EventFeed
 * (test/worker.ts) checks each event it ingests against its class schema (test/ocsf-schemas.ts)
 * and reports the count and any failure to `ocsf-audit.warden.test`, which lands here, in the
 * Node process that runs the suite. At teardown the run prints how many were checked and exits
 * non-zero if any was invalid — whichever test produced it (scripts/test.mjs fails on that).
 */

export const OCSF_AUDIT_HOST = "ocsf-audit.warden.test";

export interface OcsfAuditReport {
  validated: number;
  invalid: { uid: string; class_uid: unknown; type: unknown; errors: string[] }[];
}

// The config's outbound handler and this global setup are separate module instances in one process.
const KEY = Symbol.for("warden.ocsf-audit");
type Holder = { [KEY]?: OcsfAuditReport };

function report(): OcsfAuditReport {
  const holder = globalThis as Holder;
  holder[KEY] ??= { validated: 0, invalid: [] };
  return holder[KEY];
}

/** Outbound requests to the audit host (test/setup/outbound.ts). */
export async function ocsfAuditOutbound(request: Request): Promise<Response> {
  const batch = (await request.json()) as OcsfAuditReport;
  const totals = report();
  totals.validated += batch.validated;
  totals.invalid.push(...batch.invalid);
  return new Response(null, { status: 204 });
}

export default function setup(): () => void {
  return () => {
    const { validated, invalid } = report();
    console.log(`OCSF: ${validated} events produced by the suite validated against their class schemas, ${invalid.length} invalid`);
    if (invalid.length > 0) {
      // Not thrown: a throwing teardown would skip the others (the software TPMs) and leave them running.
      console.error(`invalid OCSF events (first 5): ${JSON.stringify(invalid.slice(0, 5), null, 2)}`);
      process.exitCode = 1;
    }
  };
}
