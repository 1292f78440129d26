/** Device ids whose bench object has no event feed (bench/worker.ts), so part L can compare (bench/events.ts). */
export const EVENTS_OFF_PREFIX = "events-off-";
