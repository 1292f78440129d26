/**
 * A response body read up to a bound: the first `max` bytes, and whether there was more (the rest
 * is not read, and the stream is cancelled). Outbound answers (ticketing services, AMD KDS) come
 * from services Warden does not control; a body of any size must not become memory of any size.
 */
export async function boundedBytes(response: Response, max: number): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  let truncated = false;
  const reader = response.body?.getReader();
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    if (length + value.length > max) {
      chunks.push(value.subarray(0, max - length));
      length = max;
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    length += value.length;
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, truncated };
}
