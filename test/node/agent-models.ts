import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Scripted model servers for the real agents (test/node/agents-live.test.ts): local HTTP servers
 * that speak the streaming wire protocol the agent's provider speaks — Anthropic's Messages API
 * for Claude Code, OpenAI's Responses API for Codex — and answer each turn of the agent's loop
 * with the next tool call of a script, then with a closing text. Every request is kept, so a test
 * can read what the agent reported back for each call (the tool's output, or the hook's refusal).
 */

/** One turn of the script: the tool call the model makes next. */
export type ScriptedCall =
  | { kind: "function"; name: string; arguments: Record<string, unknown> }
  | { kind: "custom"; name: string; input: string };

export interface ModelServer {
  url: string;
  /** Plays `calls`, one per turn of the agent's loop, from the next request on. */
  script(calls: ScriptedCall[]): void;
  /** What the agent reported back to the model for each call of the script, in the script's order (undefined: nothing yet). */
  outputs(): (string | undefined)[];
  close(): Promise<void>;
}

type Body = Record<string, unknown>;

/** What both servers keep: the calls still to make, the ids they were made under, and what the agent reported for each. */
class Turns {
  private queue: ScriptedCall[] = [];
  private issued: string[] = [];
  private readonly reports = new Map<string, string>();

  play(calls: ScriptedCall[]): void {
    this.queue = [...calls];
    this.issued = [];
  }

  /** The next call of the script, if any is left. */
  next(): ScriptedCall | undefined {
    return this.queue.shift();
  }

  made(id: string): void {
    this.issued.push(id);
  }

  reported(id: string, output: string): void {
    this.reports.set(id, output);
  }

  server(url: string, server: Server): ModelServer {
    return { url, script: (calls) => this.play(calls), outputs: () => this.issued.map((id) => this.reports.get(id)), close: closer(server) };
  }
}

async function readJson(request: IncomingMessage): Promise<Body> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text === "" ? {} : (JSON.parse(text) as Body);
}

function sse(response: ServerResponse, events: { event: string; data: unknown }[]): void {
  response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const { event, data } of events) response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  response.end();
}

async function listen(handle: (request: IncomingMessage, body: Body, response: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    readJson(request).then(
      (body) => handle(request, body, response),
      () => {
        response.writeHead(400).end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closer(server: Server): () => Promise<void> {
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Anthropic's Messages API, streamed (what Claude Code asks for). A request carrying the agent's
 * tool list is a turn of its loop and gets the next call; anything else (a title, a summary) and
 * a turn after the script has run out get a closing text.
 */
export async function anthropicModel(): Promise<ModelServer> {
  const turns = new Turns();
  let turn = 0;
  const { server, url } = await listen((request, body, response) => {
    if (request.method !== "POST" || !request.url?.startsWith("/v1/messages")) return void response.writeHead(404).end();
    if (request.url.startsWith("/v1/messages/count_tokens")) return void response.writeHead(200, { "content-type": "application/json" }).end('{"input_tokens":1}');
    const messages = (body["messages"] ?? []) as { role: string; content: unknown }[];
    for (const message of messages) {
      if (message.role !== "user" || !Array.isArray(message.content)) continue;
      for (const block of message.content as { type: string; tool_use_id?: string; content?: unknown }[]) {
        if (block.type === "tool_result" && block.tool_use_id) turns.reported(block.tool_use_id, toolResultText(block.content));
      }
    }
    const inLoop = Array.isArray(body["tools"]) && (body["tools"] as unknown[]).length > 0;
    const call = inLoop ? turns.next() : undefined;
    const model = String(body["model"] ?? "claude");
    const message = { id: `msg_${++turn}`, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } };
    const events: { event: string; data: unknown }[] = [{ event: "message_start", data: { type: "message_start", message } }];
    if (call?.kind === "function") {
      const id = `toolu_${String(turn).padStart(4, "0")}`;
      turns.made(id);
      events.push(
        { event: "content_block_start", data: { type: "content_block_start", index: 0, content_block: { type: "tool_use", id, name: call.name, input: {} } } },
        { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: JSON.stringify(call.arguments) } } },
      );
    } else {
      events.push(
        { event: "content_block_start", data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } },
        { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Done." } } },
      );
    }
    events.push(
      { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
      { event: "message_delta", data: { type: "message_delta", delta: { stop_reason: call ? "tool_use" : "end_turn", stop_sequence: null }, usage: { output_tokens: 1 } } },
      { event: "message_stop", data: { type: "message_stop" } },
    );
    sse(response, events);
  });
  return turns.server(url, server);
}

function toolResultText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part: { text?: string }) => part.text ?? "").join("");
  return JSON.stringify(content);
}

/**
 * OpenAI's Responses API, streamed (what Codex asks for): each request is a turn of the loop
 * and gets the next call — a function call (`exec_command`) or a custom tool call
 * (`apply_patch`, which takes the patch as free text) — or a closing message.
 */
export async function openaiModel(): Promise<ModelServer> {
  const turns = new Turns();
  let turn = 0;
  const { server, url } = await listen((request, body, response) => {
    if (request.method !== "POST" || !request.url?.endsWith("/responses")) return void response.writeHead(404).end();
    for (const item of (body["input"] ?? []) as { type: string; call_id?: string; output?: unknown }[]) {
      if ((item.type === "function_call_output" || item.type === "custom_tool_call_output") && item.call_id) turns.reported(item.call_id, toolResultText(item.output));
    }
    const call = turns.next();
    const id = `call_${String(++turn).padStart(4, "0")}`;
    if (call) turns.made(id);
    const item =
      call?.kind === "function"
        ? { type: "function_call", id: `fc_${turn}`, call_id: id, name: call.name, arguments: JSON.stringify(call.arguments) }
        : call?.kind === "custom"
          ? { type: "custom_tool_call", id: `ctc_${turn}`, call_id: id, name: call.name, input: call.input }
          : { type: "message", id: `msg_${turn}`, role: "assistant", content: [{ type: "output_text", text: "Done." }] };
    const usage = { input_tokens: 1, input_tokens_details: null, output_tokens: 1, output_tokens_details: null, total_tokens: 2 };
    sse(response, [
      { event: "response.created", data: { type: "response.created", response: { id: `resp_${turn}` } } },
      { event: "response.output_item.done", data: { type: "response.output_item.done", item } },
      { event: "response.completed", data: { type: "response.completed", response: { id: `resp_${turn}`, usage } } },
    ]);
  });
  return turns.server(url, server);
}
