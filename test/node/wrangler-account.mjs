#!/usr/bin/env node
// A local stand-in for the Cloudflare account side of wrangler, for scripts/deploy.mjs's tests
// (WARDEN_WRANGLER points at it): R2 buckets and their locks, queues, worker secrets, deployments, kept
// in the JSON file $WARDEN_ACCOUNT_STATE. It records every call; secret values never reach it
// beyond their names. Anything it does not know exits 3, so a new account call fails the test.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.env.WARDEN_ACCOUNT_STATE;
const state = JSON.parse(readFileSync(file, "utf8"));
const args = process.argv.slice(2);
state.calls.push(args.join(" "));
const save = () => writeFileSync(file, JSON.stringify(state, null, 2));
const [group, command, ...rest] = args;
let status = 0;

if (group === "r2" && command === "bucket" && rest[0] === "info") {
  if (state.buckets.includes(rest[1])) process.stdout.write(JSON.stringify({ name: rest[1] }));
  else status = 1;
} else if (group === "r2" && command === "bucket" && rest[0] === "create") {
  state.buckets.push(rest[1]);
} else if (group === "r2" && command === "bucket" && rest[0] === "lock" && rest[1] === "add") {
  state.locks.push({ bucket: rest[2], name: rest[3], prefix: rest[4], days: Number(rest[rest.indexOf("--retention-days") + 1]) });
} else if (group === "queues" && command === "info") {
  if ((state.queues ?? []).includes(rest[0])) process.stdout.write(`Queue Name: ${rest[0]}\n`);
  else status = 1;
} else if (group === "queues" && command === "create") {
  state.queues = [...(state.queues ?? []), rest[0]];
} else if (group === "secret" && command === "list") {
  // As the API answers: a worker never deployed does not exist (10007); `listError` plays any other failure.
  if (state.listError) {
    process.stderr.write(`${state.listError}\n`);
    status = 1;
  } else if (!state.workerExists) {
    process.stderr.write("This Worker does not exist on your account. [code: 10007]\n");
    status = 1;
  } else process.stdout.write(JSON.stringify(state.secrets.map((name) => ({ name, type: "secret_text" }))));
} else if (group === "deploy") {
  const at = args.indexOf("--secrets-file");
  if (at >= 0) {
    const values = JSON.parse(readFileSync(args[at + 1], "utf8"));
    state.secrets.push(...Object.keys(values));
    state.uploaded.push(...Object.entries(values).map(([name, value]) => ({ name, length: String(value).length })));
  }
  state.workerExists = true;
  state.deployed.push(args.filter((_, index) => index !== at + 1 || at < 0).join(" "));
} else status = 3;
save();
process.exit(status);
