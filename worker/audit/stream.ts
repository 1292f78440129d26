/**
 * A JSON Lines body pulled one record at a time: a string is one or more lines (the newline is
 * added), bytes pass through as they are. Nothing is read ahead of the client, and a failure
 * midway ends the body without its signed manifest, which a verifier reports as truncated.
 */
export function jsonLinesBody(records: AsyncGenerator<string | Uint8Array, void, undefined>, onFailure: (error: unknown) => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await records.next();
        if (next.done) controller.close();
        else controller.enqueue(typeof next.value === "string" ? encoder.encode(`${next.value}\n`) : next.value);
      } catch (error) {
        onFailure(error);
        controller.error(error);
      }
    },
    async cancel() {
      await records.return(undefined);
    },
  });
}

/** A streamed JSON Lines download. */
export interface JsonLinesDownload {
  body: ReadableStream<Uint8Array>;
  filename: string;
}
