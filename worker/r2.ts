import { WardenError } from "./errors.ts";

/** Writes `body` under `key` create-only; an existing object must hold exactly `body`, it is never overwritten. */
export async function putCreateOnly(archive: R2Bucket, key: string, body: string, options: { contentType: string; sha256?: string }): Promise<void> {
  const written = await archive.put(key, body, {
    onlyIf: { etagDoesNotMatch: "*" },
    ...(options.sha256 !== undefined ? { sha256: options.sha256 } : {}),
    httpMetadata: { contentType: options.contentType },
  });
  if (written !== null) return;
  // It exists: an earlier attempt wrote it and stopped before recording that it had. Same bytes or a conflict.
  const existing = await archive.get(key);
  if (existing === null) throw new WardenError("storage_error", `the archive refused to create ${key} but does not have it`);
  if ((await existing.text()) !== body) throw new WardenError("storage_error", `${key} exists in the archive with other bytes; it is never overwritten`);
}

/**
 * Writes `body` under `key` unless an object is there already, whatever it holds (that one is
 * kept: nothing is overwritten). For objects where any one of several writers' versions will
 * do, and which the reader checks on its own.
 */
export async function putUnlessPresent(archive: R2Bucket, key: string, body: string, options: { contentType: string }): Promise<void> {
  await archive.put(key, body, { onlyIf: { etagDoesNotMatch: "*" }, httpMetadata: { contentType: options.contentType } });
}
