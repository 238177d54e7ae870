// A tiny mock LLM API for the key-carousel demo. Node built-ins only.
//
//   POST /v1/chat/completions   OpenAI style,    Authorization: Bearer <key>
//   POST /v1/messages           Anthropic style, x-api-key: <key>
//
// Key behaviour:
//   KEY_A        serves `rateLimitAfter` calls, then answers 429 (retry-after: <retryAfterSeconds>)
//                for retryAfterSeconds seconds, then serves again, and so on.
//   KEY_B        always 402 insufficient_quota.
//   KEY_C        always works.
//   KEY_FALLBACK always works on /v1/messages (the "anthropic" provider).
//   other keys   401 "Incorrect API key provided: <key>" -- the key is echoed back, like some
//                real providers do, so the pool has something to redact.
//
// Extra, for the demo: `setOutage(ms, { retryAfterSeconds })` makes the OpenAI endpoint answer
// 503 "overloaded" for every key during the next `ms` milliseconds.

import http from "node:http";
import { randomBytes } from "node:crypto";

export const KEY_A = "sk-demo-A-ratelimited-0000000000000000";
export const KEY_B = "sk-demo-B-nofunds-00000000000000000000";
export const KEY_C = "sk-demo-C-healthy-000000000000000000000";
export const KEY_FALLBACK = "sk-ant-demo-fallback-00000000000000000";

const LABELS = new Map([
  [KEY_A, "A"],
  [KEY_B, "B"],
  [KEY_C, "C"],
  [KEY_FALLBACK, "fallback"],
]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const id = (prefix) => prefix + randomBytes(12).toString("hex");

/**
 * @param {{ rateLimitAfter?: number, retryAfterSeconds?: number }} [options]
 * @returns {Promise<{ url: string, close(): Promise<void>, stats: object,
 *   setOutage(ms: number, opts?: { retryAfterSeconds?: number }): void }>}
 */
export async function startMockLlm({ rateLimitAfter = 3, retryAfterSeconds = 2 } = {}) {
  // Live counters; keys are labels ("A", "B", "C", "fallback", "unknown"), never API keys.
  const stats = {
    requests: 0,
    byStatus: {},
    byKey: {},
  };
  const count = (label, status) => {
    stats.requests++;
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    const k = (stats.byKey[label] ??= { ok: 0, errors: 0 });
    if (status === 200) k.ok++;
    else k.errors++;
  };

  // Key A's rate-limit window.
  let servedInWindow = 0;
  let limitedUntil = 0;
  // Provider-wide outage of the OpenAI endpoint (demo extra).
  let outageUntil = 0;
  let outageRetryAfter = 1;

  function keyAVerdict(now) {
    if (now < limitedUntil) return Math.max(1, Math.ceil((limitedUntil - now) / 1000));
    if (limitedUntil !== 0) {
      // Window over: start a new allowance.
      limitedUntil = 0;
      servedInWindow = 0;
    }
    if (servedInWindow >= rateLimitAfter) {
      limitedUntil = now + retryAfterSeconds * 1000;
      return retryAfterSeconds;
    }
    servedInWindow++;
    return 0;
  }

  function send(res, status, body, headers = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  const openaiError = (message, type, code, param = null) => ({
    error: { message, type, param, code },
  });
  const anthropicError = (type, message) => ({ type: "error", error: { type, message } });

  function promptTokens(messages) {
    let chars = 0;
    for (const m of messages) chars += typeof m?.content === "string" ? m.content.length : 16;
    return Math.max(1, Math.ceil(chars / 4));
  }

  async function readJson(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString("utf8");
    try {
      return JSON.parse(raw);
    } catch {
      return undefined;
    }
  }

  async function handle(req, res) {
    const url = new URL(req.url, "http://127.0.0.1");
    const isOpenAI = url.pathname === "/v1/chat/completions";
    const isAnthropic = url.pathname === "/v1/messages";
    if (!isOpenAI && !isAnthropic) {
      count("none", 404);
      return send(res, 404, openaiError(`Unknown request URL: ${req.method} ${url.pathname}`, "invalid_request_error", "unknown_url"));
    }
    if (req.method !== "POST") {
      count("none", 405);
      return send(res, 405, openaiError(`Method ${req.method} not allowed`, "invalid_request_error", "method_not_allowed"));
    }

    const body = await readJson(req);
    await sleep(5 + Math.random() * 15);
    const now = Date.now();

    if (isOpenAI) {
      const auth = req.headers.authorization ?? "";
      const key = auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
      const label = LABELS.get(key) ?? "unknown";
      if (!key) {
        count(label, 401);
        return send(res, 401, openaiError("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "invalid_request_error", null));
      }
      if (label === "unknown" || label === "fallback") {
        count(label, 401);
        return send(res, 401, openaiError(`Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.`, "invalid_request_error", "invalid_api_key"));
      }
      if (!body || typeof body.model !== "string" || !Array.isArray(body.messages)) {
        count(label, 400);
        return send(res, 400, openaiError("'model' and 'messages' are required properties.", "invalid_request_error", null));
      }
      if (now < outageUntil) {
        count(label, 503);
        return send(res, 503, openaiError("The server is overloaded or not ready yet.", "server_error", "overloaded"), {
          "retry-after": String(outageRetryAfter),
        });
      }
      if (label === "B") {
        count(label, 402);
        return send(res, 402, openaiError("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota"));
      }
      if (label === "A") {
        const wait = keyAVerdict(now);
        if (wait > 0) {
          count(label, 429);
          return send(res, 429, { error: { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" } }, {
            "retry-after": String(wait),
            "x-ratelimit-limit-requests": String(rateLimitAfter),
            "x-ratelimit-remaining-requests": "0",
          });
        }
      }
      count(label, 200);
      const inTok = promptTokens(body.messages);
      const text = `Hello! This is ${body.model} answering (mock OpenAI).`;
      const outTok = Math.ceil(text.length / 4);
      return send(res, 200, {
        id: id("chatcmpl-"),
        object: "chat.completion",
        created: Math.floor(now / 1000),
        model: body.model,
        system_fingerprint: "fp_mock0001",
        choices: [
          { index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs: null, finish_reason: "stop" },
        ],
        usage: { prompt_tokens: inTok, completion_tokens: outTok, total_tokens: inTok + outTok },
      }, { "x-request-id": id("req_") });
    }

    // Anthropic-style /v1/messages
    const key = String(req.headers["x-api-key"] ?? "").trim();
    const label = LABELS.get(key) ?? "unknown";
    if (label !== "fallback") {
      count(label, 401);
      return send(res, 401, anthropicError("authentication_error", key ? `invalid x-api-key: ${key}` : "x-api-key header is required"));
    }
    if (!body || typeof body.model !== "string" || !Array.isArray(body.messages)) {
      count(label, 400);
      return send(res, 400, anthropicError("invalid_request_error", "model: Field required; messages: Field required"));
    }
    count(label, 200);
    const inTok = promptTokens(body.messages);
    const text = `Hello! This is ${body.model} answering (mock Anthropic).`;
    return send(res, 200, {
      id: id("msg_"),
      type: "message",
      role: "assistant",
      model: body.model,
      content: [{ type: "text", text }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: inTok, output_tokens: Math.ceil(text.length / 4) },
    }, { "request-id": id("req_") });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, openaiError(`mock server error: ${err?.message ?? err}`, "server_error", null));
      else res.destroy();
    });
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address();

  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    setOutage(ms, { retryAfterSeconds: ra = 1 } = {}) {
      outageUntil = Date.now() + ms;
      outageRetryAfter = ra;
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
  };
}
