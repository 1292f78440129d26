import { open, unlink } from "node:fs/promises";
import { homedir } from "node:os";
import { ClientError, WardenClient, exportDeviceKey, generateDeviceKey, type DecisionRequest, type DecisionTarget } from "./client.ts";
import { fileErrorMessage, group, JSON_OPTION, oneOf, parseOptions, required, UsageError, type Command } from "./command.ts";
import { DEFAULT_TIMEOUT_SECONDS, baseUrl, fetchWithTimeout, loadKey, talk, timeoutMs } from "./connect.ts";
import { EXIT, LOG_CHECK_EXIT, decisionExitCode } from "./exit.ts";
import { configDir, HookState } from "./hooks/state.ts";
import { checkLog } from "./log-check.ts";

/**
 * The reference shim: what an endpoint runs before letting an agent act.
 * `register` enrols a device key (admin); `decide` asks Warden about one action
 * and exits 0 only on permit, so `warden shim decide ... && do-the-thing` fails closed.
 */

const OSES = ["linux", "macos", "windows"] as const;
const ALGS = ["EdDSA", "ES256"] as const;
const REGISTER = "warden shim register";
const DECIDE = "warden shim decide";
const LOG_CHECK = "warden shim log-check";

/** The shim is the endpoint's machine interface: its results are JSON, with or without --json. */
function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

const register: Command = {
  summary: "Generate a device key, register it (admin) and save the private key",
  help: `Usage: ${REGISTER} --url <warden> --admin-token <token> --device <id> --key-out <file> [options]

Generates a device key pair, registers its public key with POST /v1/devices and
writes the private JWK to --key-out (mode 0600; an existing file is never
overwritten). Prints the registration as JSON.

Options:
  --url <url>            Warden base URL, e.g. http://localhost:8787
  --admin-token <token>  Admin bearer token (default: $WARDEN_ADMIN_TOKEN)
  --device <id>          Device id to register: [A-Za-z0-9][A-Za-z0-9._-]{0,127}
  --key-out <file>       Where to write the private key (JWK)
  --os <os>              linux | macos | windows (default linux): how paths are canonicalised
  --group <name>         A device group a canary bundle can target (repeatable)
  --user <email>         The person who uses the device, as Cloudflare Access knows them:
                         its decisions read their consents (context.consent)
  --alg <alg>            EdDSA | ES256 (default EdDSA)
  --timeout <seconds>    Give up on Warden after this long (default ${DEFAULT_TIMEOUT_SECONDS})
  --json                 Accepted for uniformity: the output is JSON either way
  -h, --help             Show this help

Exit status: 0 registered, 1 any error.`,

  async run(argv) {
    const values = parseOptions(REGISTER, argv, {
      url: { type: "string" },
      "admin-token": { type: "string" },
      device: { type: "string" },
      "key-out": { type: "string" },
      os: { type: "string", default: "linux" },
      alg: { type: "string", default: "EdDSA" },
      group: { type: "string", multiple: true },
      user: { type: "string" },
      timeout: { type: "string" },
      ...JSON_OPTION,
    });
    const url = baseUrl(REGISTER, required(REGISTER, values, "url"));
    const adminToken = values["admin-token"] || process.env["WARDEN_ADMIN_TOKEN"];
    if (!adminToken) throw new UsageError("--admin-token (or WARDEN_ADMIN_TOKEN) is required", REGISTER);
    const deviceId = required<string>(REGISTER, values, "device");
    const keyOut = required<string>(REGISTER, values, "key-out");
    const os = oneOf(REGISTER, "os", values.os, OSES);
    const alg = oneOf(REGISTER, "alg", values.alg, ALGS);
    const timeout = timeoutMs(REGISTER, values.timeout);

    // Claim the key file first: a registered key with nowhere to go would be lost.
    let file;
    try {
      file = await open(keyOut, "wx", 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new Error(`refusing to overwrite existing key file ${keyOut}`);
      throw new Error(`cannot create the key file: ${fileErrorMessage(error) ?? `${keyOut}: ${(error as Error).message}`}`);
    }
    let registered = false;
    try {
      await file.chmod(0o600);
      const key = await generateDeviceKey(alg, true);
      const client = new WardenClient({ url, deviceId, key, fetch: fetchWithTimeout(timeout) });
      const response = await talk(url, timeout, () => client.register(adminToken, os, values.group ?? [], values.user));
      if (response.status !== 201) throw new ClientError("registration", response);
      registered = true;
      await file.writeFile(JSON.stringify(await exportDeviceKey(key)) + "\n");
      await file.sync();
      printJson(response.body);
      return 0;
    } catch (error) {
      if (registered) throw new Error(`device ${deviceId} was registered but its key could not be saved to ${keyOut}: ${(error as Error).message}`);
      throw error;
    } finally {
      await file.close();
      if (!registered) await unlink(keyOut).catch(() => undefined);
    }
  },
};

/** A command target, placed where it runs: without a directory, relative arguments could not be judged. */
function commandTarget(line: string, values: { cwd?: string | undefined; home?: string | undefined; shell?: string | undefined }): DecisionTarget {
  const shell = values.shell === undefined ? undefined : oneOf(DECIDE, "shell", values.shell, ["bash", "sh", "zsh", "powershell", "cmd"] as const);
  // Given ones are sent as written: they are in the device's syntax, which need not be this machine's.
  return { kind: "command", value: line, cwd: values.cwd ?? process.cwd(), home: values.home ?? homedir(), ...(shell !== undefined ? { shell } : {}) };
}

const decide: Command = {
  summary: "Ask Warden whether an action may run; exit 0 only on permit",
  help: `Usage: ${DECIDE} --url <warden> --device <id> --key <file> --action <type> --target <path>... [options]

Opens a session (nonce, then a DPoP proof over it with the device key) and asks
POST /v1/decisions about one action. Prints the decision as JSON; on permit it
carries the single-use action token.

Options:
  --url <url>              Warden base URL, e.g. http://localhost:8787
  --device <id>            Registered device id
  --key <file>             The device's private JWK (from \`warden shim register\`)
  --action <type>          Action type, e.g. file.read, file.write, command.exec
  --target <path>          A path target (repeatable)
  --url-target <url>       A URL target (repeatable)
  --command <line>         A command-line target: Warden judges every command it runs and every file
                           and URL its arguments name
  --cwd <dir>              Where the command runs (default: this directory); relative arguments resolve here
  --home <dir>             The home directory \`~\` stands for (default: this user's)
  --shell <name>           bash, sh, zsh, powershell or cmd (default: the device's)
  --agent-id <id>          Agent id (default warden-shim)
  --agent-version <v>      Agent version (default 0)
  --sends-external         The action sends data off the device
  --timeout <seconds>      Give up on Warden after this long (default ${DEFAULT_TIMEOUT_SECONDS})
  --json                   Accepted for uniformity: the output is JSON either way
  -h, --help               Show this help

At least one of --target, --url-target or --command is required.

Exit status: ${EXIT.permit} permit, ${EXIT.deny} deny, ${EXIT.review} review, ${EXIT.error} any error (network, non-200
answer, bad arguments, malformed response). Errors go to stderr as one line.`,

  async run(argv) {
    const values = parseOptions(DECIDE, argv, {
      url: { type: "string" },
      device: { type: "string" },
      key: { type: "string" },
      action: { type: "string" },
      target: { type: "string", multiple: true },
      "url-target": { type: "string", multiple: true },
      command: { type: "string" },
      cwd: { type: "string" },
      home: { type: "string" },
      shell: { type: "string" },
      "agent-id": { type: "string", default: "warden-shim" },
      "agent-version": { type: "string", default: "0" },
      "sends-external": { type: "boolean", default: false },
      timeout: { type: "string" },
      ...JSON_OPTION,
    });
    const url = baseUrl(DECIDE, required(DECIDE, values, "url"));
    const deviceId = required<string>(DECIDE, values, "device");
    const keyPath = required<string>(DECIDE, values, "key");
    const action = required<string>(DECIDE, values, "action");
    const timeout = timeoutMs(DECIDE, values.timeout);
    const targets: DecisionRequest["action"]["targets"] = [
      ...(values.target ?? []).map((value) => ({ kind: "path" as const, value })),
      ...(values["url-target"] ?? []).map((value) => ({ kind: "url" as const, value })),
      ...(values.command !== undefined ? [commandTarget(values.command, values)] : []),
    ];
    if (targets.length === 0) throw new UsageError("at least one --target, --url-target or --command is required", DECIDE);

    const request: DecisionRequest = {
      agent: { id: values["agent-id"], version: values["agent-version"] },
      action: { type: action, targets, ...(values["sends-external"] ? { sends_external: true } : {}) },
    };
    const key = await loadKey(keyPath);
    const client = new WardenClient({ url, deviceId, key, fetch: fetchWithTimeout(timeout) });
    const response = await talk(url, timeout, async () => {
      await client.openSession();
      return client.decide<unknown>(request);
    });
    if (response.status !== 200) throw new ClientError("decision", response);
    const code = decisionExitCode(response.status, response.body);
    if (code === EXIT.error) throw new Error(`malformed decision response: ${JSON.stringify(response.body)}`);
    printJson(response.body);
    return code;
  },
};

const logCheck: Command = {
  summary: "Check that the device's log at Warden still holds what this endpoint saw appended",
  help: `Usage: ${LOG_CHECK} --url <warden> --device <id> --key <file> [options]

Compares the last log position Warden returned to this device's hooks (kept in the state
directory) with the device's live log and its latest signed checkpoint. Detects a log cut
back below that position (deleted tail, restored snapshot), a different entry there
(rewrite, fork), and a checkpoint smaller than, or forking from, one seen before. Entries
already archived can only be counted here: an auditor verifies their hashes with an export
(\`warden audit verify\`). Prints the report as JSON; a consistent check moves the kept
position to the current head.

Options (or the environment):
  --url <url>            Warden base URL ($WARDEN_URL)
  --device <id>          Registered device id ($WARDEN_DEVICE)
  --key <file>           The device's private JWK ($WARDEN_KEY)
  --state-dir <dir>      The hooks' state directory ($WARDEN_STATE_DIR; default ${configDir()})
  --timeout <seconds>    Give up on Warden after this long (default ${DEFAULT_TIMEOUT_SECONDS})
  --json                 Accepted for uniformity: the output is JSON either way
  -h, --help             Show this help

Exit status: ${LOG_CHECK_EXIT.consistent} consistent, ${LOG_CHECK_EXIT.tampered} rolled back or rewritten, ${LOG_CHECK_EXIT.error} the check could not be made.`,

  async run(argv) {
    const values = parseOptions(LOG_CHECK, argv, {
      url: { type: "string" },
      device: { type: "string" },
      key: { type: "string" },
      "state-dir": { type: "string" },
      timeout: { type: "string" },
      ...JSON_OPTION,
    });
    const url = values.url ?? process.env["WARDEN_URL"];
    const device = values.device ?? process.env["WARDEN_DEVICE"];
    const keyPath = values.key ?? process.env["WARDEN_KEY"];
    if (!url || !device || !keyPath) throw new UsageError("--url, --device and --key (or WARDEN_URL, WARDEN_DEVICE, WARDEN_KEY) are required", LOG_CHECK);
    const base = baseUrl(LOG_CHECK, url);
    const timeout = timeoutMs(LOG_CHECK, values.timeout);
    const state = new HookState(values["state-dir"] ?? process.env["WARDEN_STATE_DIR"] ?? configDir(), base, device);
    const report = await talk(base, timeout, () => checkLog({ url: base, device, keyPath, timeoutMs: timeout }, state));
    printJson(report);
    return report.status === "consistent" ? LOG_CHECK_EXIT.consistent : LOG_CHECK_EXIT.tampered;
  },
};

export default group("shim", "Reference shim: register a device key, ask for decisions, check the log", { register, decide, "log-check": logCheck });
