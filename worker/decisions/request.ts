import { z } from "@hono/zod-openapi";
import { Sha256HexSchema } from "../openapi.ts";
import { SHELLS } from "../policy/targets.ts";
import { MAX_CONTEXT_TEXT } from "../domain.ts";

const TargetValue = z.string().min(1).max(8192);

const PathTarget = z.strictObject({ kind: z.literal("path"), value: TargetValue.openapi({ example: "/home/dev/workspace/src/app.ts" }) });
const UrlTarget = z.strictObject({ kind: z.literal("url"), value: TargetValue.openapi({ example: "https://registry.npmjs.org/hono" }) });
const CommandTarget = z.strictObject({
  kind: z.literal("command"),
  value: TargetValue.openapi({ example: "git status" }),
  shell: z.enum(SHELLS).optional().openapi({ description: "The shell that will run the line; the device's registered shell, else the OS default (bash, zsh on macOS, powershell on Windows)" }),
  cwd: z.string().min(1).max(4096).optional().openapi({ description: "Absolute directory the line runs in: relative file arguments resolve against it" }),
  home: z.string().min(1).max(4096).optional().openapi({ description: "Absolute home directory: `~` resolves against it" }),
});
const ToolTarget = z.strictObject({
  kind: z.literal("tool"),
  value: z.string().min(1).max(256).openapi({ example: "mcp__github__create_issue", description: "A tool as the agent names it; `mcp__<server>__<tool>` for MCP tools" }),
});

/** One thing an action touches, as the agent describes it; the worker canonicalises it before policy sees it. */
export const TargetSchema = z.discriminatedUnion("kind", [PathTarget, UrlTarget, CommandTarget, ToolTarget]).openapi("Target");
export type Target = z.infer<typeof TargetSchema>;

/** The body of `POST /v1/decisions`, and of each element of a batch. */
export const ActionRequestSchema = z
  .strictObject({
    agent: z.strictObject({
      id: z.string().min(1).max(128),
      version: z.string().min(1).max(64),
      artifact_sha256: Sha256HexSchema.optional(),
    }),
    action: z.strictObject({
      type: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/).openapi({ example: "file.write" }),
      targets: z.array(TargetSchema).min(1).max(64),
      inputs_sha256: Sha256HexSchema.optional(),
      sends_external: z.boolean().optional(),
    }),
    context: z
      .record(z.string().max(64), z.union([z.string().max(MAX_CONTEXT_TEXT), z.number(), z.boolean()]))
      .refine((record) => Object.keys(record).length <= 32, "at most 32 context keys")
      .optional()
      .openapi({ description: "Caller's context (task id, ticket…): logged with the decision, not seen by policy" }),
  })
  .openapi("DecisionRequest");
export type ActionRequest = z.infer<typeof ActionRequestSchema>;

export const BatchRequestSchema = z.strictObject({ decisions: z.array(ActionRequestSchema).min(1).max(30) }).openapi("DecisionBatchRequest");
