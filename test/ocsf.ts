import { expect } from "vitest";
import { ocsfCaptionErrors, ocsfSchemaErrors } from "./ocsf-schemas.ts";

/** Asserts that `event` is a valid OCSF 1.8.0 event of its class: schema (every error shown) and captions. */
export function expectValidOcsf(event: unknown): void {
  const schemaErrors = ocsfSchemaErrors(event).map((error) => `${error.instanceLocation} ${error.keyword}: ${error.error}`);
  const captionErrors = event !== null && typeof event === "object" ? ocsfCaptionErrors(event as { [key: string]: unknown }) : ["not an object"];
  expect([...schemaErrors, ...captionErrors], `OCSF event ${JSON.stringify(event)}`).toEqual([]);
}
