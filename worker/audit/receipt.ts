import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import type { ServiceContext } from "../context.ts";
import { ConfigurationError, WardenError } from "../errors.ts";
import type { LogEntry } from "../log/chain.ts";
import { RECEIPT_FORMAT, type Receipt, type ReceiptProof } from "../log/receipt.ts";

/**
 * A decision's receipt (worker/log/receipt.ts): its entry and the entries it rests on, each with
 * an inclusion proof to the latest signed and witnessed checkpoint of the device's log. The
 * device's object gathers and proves; this shapes the file an auditor keeps.
 */
export async function decisionReceipt(ctx: ServiceContext, store: DurableObjectStub<DeviceLog>, device: string, args: { decisionId: string; seq: number }): Promise<Receipt> {
  const outcome = await store.receipt({ ...args, now: ctx.deps.now() });
  if (!outcome.ok) {
    if (outcome.code === "configuration_error") throw new ConfigurationError("configuration_error", "no checkpoint covers the decision (is LOG_SIGNING_KEY set?)");
    if (outcome.code === "log_range_expired") throw new WardenError(outcome.code, `entry ${args.seq} was deleted with its segment at the end of its retention`);
    throw new WardenError(outcome.code, outcome.code === "not_found" ? "no such device" : `seq ${args.seq} is not decision ${args.decisionId}`);
  }
  const size = Number(outcome.checkpoint.split("\n")[1]);
  const part = (stored: { entry: string; proof: string[] }): { entry: LogEntry; proof: ReceiptProof } => {
    // The HMAC is outside the hash and a receipt's reader has no HMAC key: it is left out rather than carried unverifiable.
    const { mac: _mac, mac_key: _macKey, ...entry } = JSON.parse(stored.entry) as LogEntry;
    return { entry, proof: { leaf_index: entry.seq - 1, tree_size: size, hashes: stored.proof } };
  };
  const decision = part(outcome.entry);
  return {
    format: RECEIPT_FORMAT,
    origin: outcome.origin,
    device,
    decision_id: args.decisionId,
    entry: decision.entry,
    proof: decision.proof,
    related: outcome.related.map(part),
    checkpoint: outcome.checkpoint,
  };
}
