// The mock LLM API the packaging scenario calls: OpenAI's chat completions on 127.0.0.1.
// Each runtime's run gets its own path prefix (/<run>/v1/chat/completions), so what every
// key saw can be checked per run. CORS is open (the browser pages call it from another
// origin) and `retry-after` is exposed to scripts, as a provider must for browsers.
//
//   KEYS[0]  429 {"error": ...} with retry-after: 2, echoing the key in the message
//   KEYS[1], KEYS[2]  200, an OpenAI-shaped completion
//   any other key  401

import http from "node:http";
import { KEYS } from "./fixtures/scenario.mjs";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, content-type, x-stainless-os, x-stainless-lang, x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, x-stainless-arch, x-stainless-retry-count, x-stainless-timeout",
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-expose-headers": "retry-after, x-request-id",
};

export async function startMock() {
  const seen = new Map(); // run -> [{ key: index, status }]
  const server = http.createServer(async (req, res) => {
    const send = (status, body, headers = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json", ...CORS, ...headers });
      res.end(text);
    };
    if (req.method === "OPTIONS") {
      res.writeHead(204, CORS);
      return res.end();
    }
    const m = /^\/([\w.-]+)\/v1\/chat\/completions$/.exec(req.url);
    if (!m || req.method !== "POST") return send(404, { error: { message: `no route ${req.method} ${req.url}` } });
    let body = "";
    for await (const chunk of req) body += chunk;
    const key = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
    const index = KEYS.indexOf(key);
    const log = seen.get(m[1]) ?? [];
    seen.set(m[1], log);
    const model = JSON.parse(body || "{}").model ?? "unknown";
    if (index === 0) {
      log.push({ key: 0, status: 429 });
      return send(429, { error: { message: `Rate limit reached for requests (key ${key})`, type: "requests", code: "rate_limit_exceeded" } }, { "retry-after": "2" });
    }
    if (index < 0) {
      log.push({ key: -1, status: 401 });
      return send(401, { error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" } });
    }
    log.push({ key: index, status: 200 });
    send(200, {
      id: `chatcmpl-${m[1]}-${log.length}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message: { role: "assistant", content: `Hello from ${model} (mock OpenAI)`, refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
    }, { "x-request-id": `req-${log.length}` });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    /** The base URL one run uses. */
    urlFor: (run) => `${base}/${run}`,
    /** What the keys of one run saw, in order: [{ key, status }]. */
    seen: (run) => seen.get(run) ?? [],
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
