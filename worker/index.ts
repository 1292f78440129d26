import { createApp } from "./app.ts";

export { BundleRegistry } from "../durable-objects/BundleRegistry.ts";
export { DeviceLog } from "../durable-objects/DeviceLog.ts";
export { ReviewQueue } from "../durable-objects/ReviewQueue.ts";

export default createApp();
