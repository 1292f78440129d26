import { Validator, type OutputUnit, type Schema } from "@cfworker/json-schema";
import apiActivity from "./fixtures/ocsf/1.8.0/api_activity.schema.json?raw";
import detectionFinding from "./fixtures/ocsf/1.8.0/detection_finding.schema.json?raw";
import deviceConfigStateChange from "./fixtures/ocsf/1.8.0/device_config_state_change.schema.json?raw";
import entityManagement from "./fixtures/ocsf/1.8.0/entity_management.schema.json?raw";
import remediationActivity from "./fixtures/ocsf/1.8.0/remediation_activity.schema.json?raw";
import indexText from "./fixtures/ocsf/1.8.0/index.json?raw";

/**
 * Validation of OCSF 1.8.0 events inside workerd: the draft-07 JSON Schema of the event's class
 * (test/fixtures/ocsf/1.8.0, see its MANIFEST) with @cfworker/json-schema, every error reported
 * (Ajv compiles with `new Function`, which workerd forbids), plus the enum captions the schemas
 * do not check: class, category and activity names against the schema index.
 */

// Read as text: TypeScript would otherwise infer a type for ~300 KB of JSON per class.
const SCHEMA_TEXT: { readonly [classUid: number]: string } = {
  6003: apiActivity,
  2004: detectionFinding,
  5019: deviceConfigStateChange,
  3004: entityManagement,
  7001: remediationActivity,
};

interface IndexedClass {
  caption: string;
  class_uid: number;
  category_uid: number;
  activities: { [id: string]: string };
}
const INDEX = JSON.parse(indexText) as { ocsf_version: string; classes: { [name: string]: IndexedClass } };
const CLASS_BY_UID = new Map(Object.values(INDEX.classes).map((entry) => [entry.class_uid, entry]));

/** Each class's validator, built once per test file that uses it (a schema is ~300 KB). */
const validators = new Map<number, Validator>();

function validatorFor(classUid: number): Validator | null {
  const known = validators.get(classUid);
  if (known) return known;
  const text = SCHEMA_TEXT[classUid];
  if (text === undefined) return null;
  const validator = new Validator(JSON.parse(text) as Schema, "7", false);
  validators.set(classUid, validator);
  return validator;
}

/** The schema's errors for `event` (empty when it validates); one error when its class has no schema here. */
export function ocsfSchemaErrors(event: unknown): OutputUnit[] {
  const classUid = (event as { class_uid?: unknown } | null)?.class_uid;
  const validator = typeof classUid === "number" ? validatorFor(classUid) : null;
  if (!validator) return [{ keyword: "class_uid", keywordLocation: "#", instanceLocation: "#/class_uid", error: `no OCSF 1.8.0 schema for class_uid ${String(classUid)}` }];
  return validator.validate(event).errors;
}

/** What the schemas leave unchecked: the captions beside class, category and activity ids, and the version. */
export function ocsfCaptionErrors(event: { [key: string]: unknown }): string[] {
  const entry = CLASS_BY_UID.get(event["class_uid"] as number);
  if (!entry) return [`unknown class_uid ${String(event["class_uid"])}`];
  const problems: string[] = [];
  const activity = entry.activities[String(event["activity_id"])];
  if (event["class_name"] !== entry.caption) problems.push(`class_name ${String(event["class_name"])} is not ${entry.caption}`);
  if (event["category_uid"] !== entry.category_uid) problems.push(`category_uid ${String(event["category_uid"])} is not ${entry.category_uid}`);
  if (activity === undefined) problems.push(`activity_id ${String(event["activity_id"])} is not an activity of ${entry.caption}`);
  // Other (99) carries the source's own verb as activity_name.
  else if (event["activity_id"] !== 99 && event["activity_name"] !== activity) problems.push(`activity_name ${String(event["activity_name"])} is not ${activity}`);
  if (event["type_name"] !== `${entry.caption}: ${activity}`) problems.push(`type_name ${String(event["type_name"])} is not ${entry.caption}: ${activity}`);
  const version = (event["metadata"] as { version?: unknown } | undefined)?.version;
  if (version !== INDEX.ocsf_version) problems.push(`metadata.version ${String(version)} is not ${INDEX.ocsf_version}`);
  return problems;
}
