import { createApp } from "./app.ts";

export { BundleRegistry } from "../durable-objects/BundleRegistry.ts";
export { DeviceLog } from "../durable-objects/DeviceLog.ts";
export { ReviewHolds } from "../durable-objects/ReviewHolds.ts";
export { ReviewOutbox } from "../durable-objects/ReviewOutbox.ts";
export { ReviewerRegistry } from "../durable-objects/ReviewerRegistry.ts";
export { ConsentLedger } from "../durable-objects/ConsentLedger.ts";
export { AgentRegistry } from "../durable-objects/AgentRegistry.ts";

export default createApp();
