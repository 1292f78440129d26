import { createApp } from "./app.ts";

export { DeviceLog } from "../durable-objects/DeviceLog.ts";

export default createApp();
