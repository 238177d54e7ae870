// The official SDKs' real errors (openai, @anthropic-ai/sdk, @google/genai, all with their
// own retries off) against a mock HTTP server on 127.0.0.1: for every scenario, the reason
// classifyError gives, the cooldown the pool applies, and whether run moves to the next key
// or rethrows. The README's SDK table is this file's SCENARIOS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { Pool, LlmKeyPool, classifyError } from "key-carousel";
import { T0, SEC, MIN, HOUR, manualClock, rejection, statusOf } from "./helpers.mjs";

// ── The mock server: the API key names the scenario ("s429~k0-…"); the path names the SDK ──

const OPENAI_QUOTA = {
  error: {
    message:
      "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    type: "insufficient_quota",
    param: null,
    code: "insufficient_quota",
  },
};
const ANTHROPIC_OVERLOADED = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };
// Anthropic's answer to a request over its size limit: a 413, whatever the key.
const ANTHROPIC_TOO_LARGE = { type: "error", error: { type: "request_too_large", message: "Request exceeds the maximum allowed number of bytes." } };
// Anthropic's answer when the account has run out of credit: a 400, not a 402.
const ANTHROPIC_NO_CREDIT = {
  type: "error",
  error: {
    type: "invalid_request_error",
    message: "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
  },
};

// Anthropic's answers when the organization's spending limit is reached, and when it is shut.
const ANTHROPIC_USAGE_LIMIT = {
  type: "error",
  error: { type: "invalid_request_error", message: "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC." },
};
const ANTHROPIC_ORG_DISABLED = { type: "error", error: { type: "invalid_request_error", message: "This organization has been disabled." } };
// Azure OpenAI's rate limit: its message links to a page whose address says "quota".
const AZURE_RATE = {
  error: {
    code: "429",
    message:
      "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
  },
};
// OpenAI's tokens-per-minute 429 with the headers that come with it: the request limit has
// room left (and refills in 120 ms), the token limit refills in 29 s.
const TPM_HEADERS = {
  "x-ratelimit-limit-requests": "500",
  "x-ratelimit-remaining-requests": "499",
  "x-ratelimit-reset-requests": "120ms",
  "x-ratelimit-limit-tokens": "30000",
  "x-ratelimit-remaining-tokens": "15433",
  "x-ratelimit-reset-tokens": "29.134s",
};
const OPENAI_TPM = {
  error: { message: "Rate limit reached for gpt-4o in organization org-test on tokens per min (TPM): Limit 30000, Used 14567, Requested 24754. Please try again in 18.642s.", type: "tokens", param: null, code: "rate_limit_exceeded" },
};

/** Each provider's own error body for a kind of failure. */
const BODIES = {
  openai: {
    rate: { error: { message: "Rate limit reached for gpt-4o in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.", type: "requests", param: null, code: "rate_limit_exceeded" } },
    // OpenAI echoes the start and end of the key it got.
    401: (key) => ({ error: { message: `Incorrect API key provided: ${key.slice(0, 10)}********${key.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`, type: "invalid_request_error", param: null, code: "invalid_api_key" } }),
    403: { error: { message: "Country, region, or territory not supported", type: "request_forbidden", param: null, code: "unsupported_country_region_territory" } },
    // What OpenAI-compatible providers (DeepSeek) answer through the OpenAI SDK.
    402: { error: { message: "Insufficient Balance", type: "unknown_error", param: null, code: "invalid_request_error" } },
    404: { error: { message: "The model `gpt-9` does not exist or you do not have access to it.", type: "invalid_request_error", param: null, code: "model_not_found" } },
    400: { error: { message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } },
    500: { error: { message: "The server had an error while processing your request. Sorry about that!", type: "server_error", param: null, code: null } },
    503: { error: { message: "The engine is currently overloaded, please try again later.", type: "server_error", param: null, code: null } },
  },
  anthropic: {
    rate: { type: "error", error: { type: "rate_limit_error", message: "This request would exceed the rate limit for your organization of 50 requests per minute." } },
    401: { type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } },
    403: { type: "error", error: { type: "permission_error", message: "Your API key does not have permission to use the specified resource." } },
    402: { type: "error", error: { type: "billing_error", message: "There is an issue with your billing or payment information." } },
    404: { type: "error", error: { type: "not_found_error", message: "model: claude-9" } },
    400: { type: "error", error: { type: "invalid_request_error", message: "prompt is too long: 215000 tokens > 200000 maximum" } },
    500: { type: "error", error: { type: "api_error", message: "Internal server error" } },
    503: { type: "error", error: { type: "api_error", message: "Service Unavailable" } },
  },
  google: {
    rate: { error: { code: 429, message: "Resource has been exhausted (e.g. check quota).", status: "RESOURCE_EXHAUSTED" } },
    401: { error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" } },
    403: { error: { code: 403, message: "Method doesn't allow unregistered callers (callers without established identity).", status: "PERMISSION_DENIED" } },
    402: { error: { code: 402, message: "Billing account for this project is not active.", status: "FAILED_PRECONDITION" } },
    404: { error: { code: 404, message: "models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.", status: "NOT_FOUND" } },
    400: { error: { code: 400, message: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", status: "INVALID_ARGUMENT" } },
    500: { error: { code: 500, message: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", status: "INTERNAL" } },
    503: { error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } },
    // The Gemini API's answer to a free-tier per-minute limit: a 429 that says "quota" and
    // tells in its body when to come back.
    geminiQuota: {
      error: {
        code: 429,
        message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        status: "RESOURCE_EXHAUSTED",
        details: [
          { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests", quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier" }] },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "37s" },
        ],
      },
    },
    // The Gemini API's answer to a wrong key: 400, not 401.
    keyInvalid: {
      error: {
        code: 400,
        message: "API key not valid. Please pass a valid API key.",
        status: "INVALID_ARGUMENT",
        details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com" }],
      },
    },
  },
};

const SUCCESS = {
  openai: { id: "chatcmpl-1", object: "chat.completion", created: 1, model: "gpt-4o", choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } },
  anthropic: { id: "msg_1", type: "message", role: "assistant", model: "claude", content: [{ type: "text", text: "hello" }], stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } },
  google: { candidates: [{ content: { role: "model", parts: [{ text: "hello" }] }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 } },
};

// v1's rules on @google/genai: every 429 says "quota", so it is billing (a 5 h rest); its own
// timeout is a bare AbortError, which v1 takes for the caller's abort and rethrows.
const V1_GOOGLE_429 = { google: { reason: "billing" } };
const V1_GOOGLE_ABORT = { outcome: "rotates", google: { outcome: "rethrows" } };

/**
 * The scenarios. `answer(sdk, key)` → [status, headers, body], or "drop" / "slow". `reason`
 * `cooldownMs` and `outcome` are what classifyError and the pool must give (per SDK when they
 * differ); `outcome`: "rotates" (run moves to the next key, the default) or "rethrows". `v1`:
 * what LlmKeyPool (v1's rules, no Retry-After, `format` rotates) gives instead, when it differs
 * ("skip": not run through LlmKeyPool).
 */
const SCENARIOS = [
  { id: "s429", name: "429", answer: (sdk) => [429, {}, BODIES[sdk].rate], reason: "rate_limit", cooldownMs: MIN, v1: V1_GOOGLE_429 },
  { id: "s429ra", name: "429 retry-after: 7", answer: (sdk) => [429, { "retry-after": "7" }, BODIES[sdk].rate], reason: "rate_limit", cooldownMs: { openai: 7 * SEC, anthropic: 7 * SEC, google: MIN }, v1: V1_GOOGLE_429 },
  { id: "s429ms", name: "429 retry-after-ms: 2500", answer: (sdk) => [429, { "retry-after-ms": "2500" }, BODIES[sdk].rate], reason: "rate_limit", cooldownMs: { openai: 2500, anthropic: 2500, google: MIN }, v1: V1_GOOGLE_429 },
  {
    id: "s429reset",
    name: "429 x-ratelimit-reset-requests: 6m0s",
    answer: (sdk) => [429, { "x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s" }, BODIES[sdk].rate],
    reason: "rate_limit",
    cooldownMs: { openai: 6 * MIN, anthropic: 6 * MIN, google: MIN },
    v1: V1_GOOGLE_429,
  },
  { id: "squota", name: "429 insufficient_quota (OpenAI's body)", answer: () => [429, {}, OPENAI_QUOTA], reason: "billing", cooldownMs: 5 * HOUR, state: "disabled" },
  { id: "s401", name: "401", answer: (sdk, key) => [401, {}, typeof BODIES[sdk][401] === "function" ? BODIES[sdk][401](key) : BODIES[sdk][401]], reason: "auth", cooldownMs: MIN },
  { id: "s403", name: "403", answer: (sdk) => [403, {}, BODIES[sdk][403]], reason: "auth_permanent", cooldownMs: 5 * HOUR, state: "disabled" },
  { id: "s402", name: "402", answer: (sdk) => [402, {}, BODIES[sdk][402]], reason: "billing", cooldownMs: 5 * HOUR, state: "disabled" },
  { id: "s404", name: "404 unknown model", answer: (sdk) => [404, {}, BODIES[sdk][404]], reason: "model_not_found", cooldownMs: MIN },
  { id: "scredit", name: "400 credit balance too low (Anthropic's out-of-credit answer)", only: "anthropic", answer: () => [400, {}, ANTHROPIC_NO_CREDIT], reason: "billing", cooldownMs: 5 * HOUR, state: "disabled", v1: { reason: "format" } },
  { id: "s400", name: "400 context length", answer: (sdk) => [400, {}, BODIES[sdk][400]], reason: "format", outcome: "rethrows", v1: { outcome: "rotates" } },
  { id: "s413", name: "413 request_too_large (Anthropic's body)", only: "anthropic", answer: () => [413, {}, ANTHROPIC_TOO_LARGE], reason: "format", outcome: "rethrows", v1: { reason: "unknown", outcome: "rotates" } },
  // Any 413 or 422 is the request's fault in v2, as a 400 is (was: unknown, which rested every key the run tried).
  { id: "s413proxy", name: "413 from a proxy (an HTML page)", answer: () => [413, { "content-type": "text/html" }, "<html><body><h1>413 Request Entity Too Large</h1></body></html>"], reason: "format", outcome: "rethrows", v1: { reason: "unknown", outcome: "rotates" } },
  { id: "s422", name: "422 a request the API cannot process", answer: () => [422, {}, { error: { message: "Invalid value for 'temperature': expected a number", type: "invalid_request_error" } }], reason: "format", outcome: "rethrows", v1: { reason: "unknown", outcome: "rotates" } },
  { id: "s500", name: "500", answer: (sdk) => [500, {}, BODIES[sdk][500]], reason: "server_error", cooldownMs: MIN, v1: { reason: "unknown" } },
  { id: "s503", name: "503", answer: (sdk) => [503, {}, BODIES[sdk][503]], reason: "server_error", cooldownMs: MIN },
  { id: "s529", name: "529 overloaded (Anthropic's body)", answer: () => [529, {}, ANTHROPIC_OVERLOADED], reason: "server_error", cooldownMs: MIN },
  { id: "sdrop", name: "dropped connection", answer: () => "drop", reason: "server_error", cooldownMs: MIN, v1: { reason: "unknown" } },
  // @google/genai's own timeout is a bare AbortError "This operation was aborted": nothing
  // tells it from the caller's abort (SPEC §4), so it is rethrown, as v1 does.
  { id: "stimeout", name: "slow answer, the SDK's timeout option", answer: () => "slow", sdkTimeout: true, reason: "timeout", cooldownMs: MIN, outcome: { google: "rethrows" }, v1: V1_GOOGLE_ABORT },
  { id: "ssignal", name: "slow answer, AbortSignal.timeout() as run's signal", answer: () => "slow", runSignal: true, reason: "timeout", outcome: "rethrows", v1: { outcome: "rethrows" } },
  // Inside the task, the SDKs turn the signal's abort into their abort error ("Request was
  // aborted.", "This operation was aborted"): an abort not about a timeout, rethrown.
  { id: "sinner", name: "slow answer, AbortSignal.timeout() inside the task", answer: () => "slow", taskSignal: true, reason: "timeout", outcome: "rethrows", v1: { reason: "unknown", outcome: "rotates", google: { outcome: "rethrows" } } },
  // The caller's own controller, not given to run, fires during the call: every other key
  // would fail on it at once too. Rethrown after the first attempt, no key blamed.
  { id: "sown", name: "the caller's own AbortController (not given to run) fires during the call", answer: () => "slow", ownSignal: true, reason: "timeout", outcome: "rethrows", v1: "skip" },
  { id: "sgquota", name: "429 RESOURCE_EXHAUSTED with RetryInfo 37s (Gemini)", only: "google", answer: () => [429, {}, BODIES.google.geminiQuota], reason: "rate_limit", cooldownMs: 37 * SEC, v1: { reason: "billing" } },
  { id: "sgkey", name: "400 API_KEY_INVALID (Gemini's wrong key)", only: "google", answer: () => [400, {}, BODIES.google.keyInvalid], reason: "auth", cooldownMs: MIN, v1: { reason: "format" } },
  { id: "susage", name: "400 API usage limits reached (Anthropic's spending limit)", only: "anthropic", answer: () => [400, {}, ANTHROPIC_USAGE_LIMIT], reason: "billing", cooldownMs: 5 * HOUR, state: "disabled", v1: { reason: "format" } },
  { id: "sorgoff", name: "400 organization disabled (Anthropic)", only: "anthropic", answer: () => [400, {}, ANTHROPIC_ORG_DISABLED], reason: "auth_permanent", cooldownMs: 5 * HOUR, state: "disabled", v1: { reason: "format" } },
  { id: "sazure", name: "429 Azure OpenAI rate limit (its message links to a quota page) + retry-after: 6", only: "openai", answer: () => [429, { "retry-after": "6" }, AZURE_RATE], reason: "rate_limit", cooldownMs: 6 * SEC, v1: { reason: "billing" } },
  // The token limit is the one hit (the request needs more than remains): the later reset.
  { id: "stpm", name: "429 tokens per minute, request limit not used up: the later x-ratelimit reset", only: "openai", answer: () => [429, TPM_HEADERS, OPENAI_TPM], reason: "rate_limit", cooldownMs: 29134 },
  // A rate limit's reset says nothing of a server error: the schedule's 1 min.
  { id: "s500rl", name: "500 with x-ratelimit headers: the schedule, not the reset", only: "openai", answer: () => [500, { ...TPM_HEADERS, "x-ratelimit-remaining-tokens": "0" }, BODIES.openai[500]], reason: "server_error", cooldownMs: MIN, v1: { reason: "unknown" } },
];

/**
 * A streamed answer (server-sent events): "hello" in two pieces, or the first piece and then
 * the provider's error event for an internal error (the HTTP status is already 200).
 */
function streamAnswer(sdk, res, fail) {
  res.writeHead(200, { "content-type": "text/event-stream" });
  const send = (event, data) => res.write(`${sdk === "anthropic" ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`);
  if (sdk === "openai") {
    const chunk = (content, finish = null) => ({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o", choices: [{ index: 0, delta: { content }, finish_reason: finish }] });
    send("", chunk("hel"));
    if (fail) send("", { error: BODIES.openai[500].error });
    else {
      send("", chunk("lo", "stop"));
      res.write("data: [DONE]\n\n");
    }
    return res.end();
  }
  send("message_start", { type: "message_start", message: { id: "m", type: "message", role: "assistant", model: "claude", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 0 } } });
  send("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
  send("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "hel" } });
  if (fail) send("error", { type: "error", error: BODIES.anthropic[500].error });
  else {
    send("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "lo" } });
    send("content_block_stop", { type: "content_block_stop", index: 0 });
    send("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 2 } });
    send("message_stop", { type: "message_stop" });
  }
  res.end();
}

const SLOW_MS = 5000;
const CUT_MS = 150;
let server;
let base;
const hits = new Map(); // key → requests seen

before(async () => {
  server = http.createServer((req, res) => {
    const sdk = req.url.includes("/chat/completions") ? "openai" : req.url.includes("/messages") ? "anthropic" : "google";
    const key = (req.headers.authorization ?? "").replace(/^Bearer /, "") || req.headers["x-api-key"] || req.headers["x-goog-api-key"] || "";
    hits.set(key, (hits.get(key) ?? 0) + 1);
    req.resume();
    req.on("end", () => {
      if (key.startsWith("mid")) return streamAnswer(sdk, res, key.startsWith("mid~"));
      const scenario = SCENARIOS.find((s) => key.startsWith(`${s.id}~`));
      const answer = scenario ? scenario.answer(sdk, key) : [200, {}, SUCCESS[sdk]];
      if (answer === "drop") return req.socket.destroy();
      if (answer === "slow") {
        const timer = setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(SUCCESS[sdk])), SLOW_MS);
        res.on("close", () => clearTimeout(timer));
        return;
      }
      const [status, headers, body] = answer;
      res.writeHead(status, { "content-type": "application/json", "x-request-id": "req_test", ...headers });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

// ── The SDKs, each with its own retries off ──

/** One call through each SDK; `timeout` is the SDK's own option, `signal` the call's. */
const SDKS = {
  openai: (apiKey, { timeout, signal } = {}) =>
    new OpenAI({ apiKey, baseURL: `${base}/v1`, maxRetries: 0, timeout })
      .chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }, { signal })
      .then((r) => r.choices[0].message.content),
  anthropic: (apiKey, { timeout, signal } = {}) =>
    new Anthropic({ apiKey, baseURL: base, maxRetries: 0, timeout })
      .messages.create({ model: "claude", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }, { signal })
      .then((r) => r.content[0].text),
  // @google/genai retries only when httpOptions.retryOptions is set: leave it unset.
  google: (apiKey, { timeout, signal } = {}) =>
    new GoogleGenAI({ apiKey, httpOptions: { baseUrl: base, timeout } })
      .models.generateContent({ model: "gemini-2.0-flash", contents: "hi", config: { abortSignal: signal } })
      .then((r) => r.text),
};

const pick = (value, sdk) => (value !== null && typeof value === "object" ? value[sdk] : value);

/**
 * The options of one SDK call in a scenario (the run's signal, when there is one, comes from
 * ctx; `own`, the caller's own signal, is the same for every attempt of a run).
 */
function callOptions(scenario, runSignal, own) {
  if (scenario.sdkTimeout) return { timeout: CUT_MS };
  if (scenario.taskSignal) return { signal: AbortSignal.timeout(CUT_MS) };
  if (scenario.runSignal) return { signal: runSignal };
  if (scenario.ownSignal) return { signal: own };
  return {};
}

for (const [sdk, call] of Object.entries(SDKS)) {
  test(`${sdk}: real SDK errors are classified, cooled and rotated`, async (t) => {
    for (const s of SCENARIOS) {
      if (s.only && s.only !== sdk) continue;
      await t.test(s.name, async () => {
        const reason = pick(s.reason, sdk);
        const key0 = `${s.id}~k0-${sdk}-0123456789abcdef`;
        const key1 = `ok~k1-${sdk}-0123456789abcdef`;

        // 1. The SDK's error as the user catches it, classified.
        hits.set(key0, 0);
        const direct = await rejection(call(key0, callOptions(s, s.runSignal ? AbortSignal.timeout(CUT_MS) : undefined, AbortSignal.timeout(CUT_MS))));
        assert.equal(classifyError(direct), reason, `classifyError(${direct?.constructor?.name}: ${direct?.message})`);
        // Exactly one request: the SDK did not retry on its own (drop/slow: the one cut short).
        assert.equal(hits.get(key0), 1, "requests the SDK made");

        // 2. The same failure inside run: key 0 fails, key 1 answers.
        const clock = manualClock();
        const pool = new Pool({
          profiles: [
            { id: "k0", provider: sdk, apiKey: key0 },
            { id: "k1", provider: sdk, apiKey: key1 },
          ],
          clock: clock.fn,
        });
        const seen = [];
        const own = AbortSignal.timeout(CUT_MS);
        const task = ({ profileId, apiKey, signal }) => {
          seen.push(profileId);
          return call(apiKey, callOptions(s, signal, own));
        };
        const runSignal = s.runSignal ? AbortSignal.timeout(CUT_MS) : undefined;
        const k0 = () => statusOf(pool, "k0");
        if (pick(s.outcome, sdk) === "rethrows") {
          const err = await rejection(pool.run(task, { signal: runSignal }));
          assert.equal(err.constructor, direct.constructor, "run rethrows the SDK's own error");
          assert.deepEqual(seen, ["k0"]);
          assert.equal(k0().state, "available");
          assert.equal(k0().errorCount, 0);
          assert.equal(k0().cooldownUntil, undefined);
          assert.equal(pool.isInCooldown("k0"), false);
          assert.equal(statusOf(pool, "k1").errorCount, 0);
          return;
        }
        const cooldownMs = pick(s.cooldownMs, sdk);
        const res = await pool.run(task, { signal: runSignal });
        assert.deepEqual(seen, ["k0", "k1"]);
        assert.equal(res.value, "hello");
        assert.equal(res.profileId, "k1");
        assert.equal(res.attempts.length, 1);
        const [a] = res.attempts;
        assert.equal(a.profileId, "k0");
        assert.equal(a.reason, reason);
        assert.equal(a.cooldownMs, cooldownMs);
        assert.ok(!a.error.includes(key0.slice(0, 10)), `the key leaked into the attempt: ${a.error}`);
        assert.equal(k0().state, s.state ?? "cooldown");
        assert.equal(k0().cooldownUntil, T0 + cooldownMs);
        assert.equal(k0().errorCount, 1);
        assert.equal(pool.isInCooldown("k0"), true);
        assert.equal(statusOf(pool, "k1").state, "available");
      });

      if (s.v1 === "skip") continue;
      await t.test(`${s.name}, through LlmKeyPool (v1's rules)`, async () => {
        const v1 = { reason: pick(s.reason, sdk), outcome: pick(s.outcome, sdk), ...s.v1, ...s.v1?.[sdk] };
        const key0 = `${s.id}~k0-${sdk}-v1-0123456789abcdef`;
        const pool = new LlmKeyPool({ profiles: [{ provider: sdk, apiKey: key0 }, { provider: sdk, apiKey: `ok~k1-${sdk}-v1-0123456789` }] });
        // v1 passed no signal to the task: a v1 program closes over its own.
        const runSignal = s.runSignal ? AbortSignal.timeout(CUT_MS) : undefined;
        const seen = [];
        const run = pool.run(({ profileId, apiKey }) => {
          seen.push(profileId);
          return call(apiKey, callOptions(s, runSignal));
        }, { signal: runSignal });
        const p0 = () => pool.getStatus().profiles[0];
        if (v1.outcome === "rethrows") {
          const err = await rejection(run);
          assert.ok(["AbortError", "TimeoutError"].includes(err.name), `${err.name}: ${err.message}`);
          assert.deepEqual(seen, ["profile-0"]);
          assert.equal(p0().errorCount, 0);
          return;
        }
        const res = await run;
        assert.deepEqual(seen, ["profile-0", "profile-1"]);
        assert.equal(res.attempts[0].reason, v1.reason);
        assert.equal(Object.hasOwn(res.attempts[0], "cooldownMs"), false, "v1's attempt fields only");
        const long = v1.reason === "billing" || v1.reason === "auth_permanent";
        assert.equal(p0().state, long ? "disabled" : "cooldown");
        // v1's schedule, whatever the provider's headers said.
        assert.equal(p0().cooldownUntil - p0().lastFailure, long ? 5 * HOUR : MIN);
      });
    }
  });
}

// ── The extraction behind those results, on hand-made shapes ──

test("extraction: JSON bodies in messages, class names, the run's signal", async (t) => {
  await t.test("a Google body in the message gives its codes; commas never split a code", () => {
    const google = (body, status) => Object.assign(new Error(JSON.stringify(body)), { name: "ApiError", status });
    assert.equal(classifyError(google(BODIES.google.rate, 429)), "rate_limit");
    assert.equal(classifyError(google(BODIES.google.keyInvalid, 400)), "auth");
    assert.equal(classifyError(google(BODIES.google[400], 400)), "format");
    assert.equal(classifyError(google(OPENAI_QUOTA, 429)), "billing");
    // The streaming form: "got status: 429. {...}".
    const streamed = Object.assign(new Error(`got status: RESOURCE_EXHAUSTED. ${JSON.stringify(BODIES.google.rate)}`), { status: 429 });
    assert.equal(classifyError(streamed), "rate_limit");
    // Without the code, v1's rule: a 429 that says "quota" is billing.
    assert.equal(classifyError(Object.assign(new Error("Resource has been exhausted (e.g. check quota)."), { status: 429 })), "billing");
    // Not JSON: the message rules as before. JSON after any text (a wrapper's) gives its
    // codes (was: only within 40 characters of the start, so a wrapped Google 429 was billing).
    assert.equal(classifyError(Object.assign(new Error("{not json quota"), { status: 429 })), "billing");
    assert.equal(classifyError(Object.assign(new Error(`${"x".repeat(50)} ${JSON.stringify(BODIES.google.rate)}`), { status: 429 })), "rate_limit");
    // JSON of anything but an error body (a request quoted) says nothing.
    assert.equal(classifyError(Object.assign(new Error(`quota: ${JSON.stringify({ code: "RESOURCE_EXHAUSTED" })}`), { status: 429 })), "billing");
    assert.equal(classifyError(Object.assign(new Error("x"), { status: 429, code: "a,RESOURCE_EXHAUSTED" })), "rate_limit");
  });

  await t.test("an error class's name counts when its name is the generic 'Error'", () => {
    class APIUserAbortError extends Error {}
    assert.equal(classifyError(new APIUserAbortError("Request was aborted.")), "timeout");
    class SomethingElse extends Error {}
    assert.equal(classifyError(new SomethingElse("Request was aborted.")), "unknown");
  });

  await t.test("once the run's signal fired, whatever the task throws is rethrown, blaming no key", async () => {
    const clock = manualClock();
    const pool = new Pool({ profiles: [{ id: "k0", provider: "p", apiKey: "key-zero-0123456789" }, { id: "k1", provider: "p", apiKey: "key-one-0123456789" }], clock: clock.fn });
    const ac = new AbortController();
    const sdkError = Object.assign(new Error("Request was aborted."), { status: undefined });
    const err = await rejection(pool.run(() => {
      ac.abort();
      throw sdkError;
    }, { signal: ac.signal }));
    assert.equal(err, sdkError);
    assert.equal(statusOf(pool, "k0").errorCount, 0);
    assert.equal(statusOf(pool, "k0").inFlight, 0);
  });

  await t.test("an abort that is not about a timeout is the caller's, signal or not: rethrown at once, no key blamed", async () => {
    const clock = manualClock();
    const pool = new Pool({ profiles: [{ id: "k0", provider: "p", apiKey: "key-zero-0123456789" }, { id: "k1", provider: "p", apiKey: "key-one-0123456789" }], clock: clock.fn });
    class APIUserAbortError extends Error {}
    const aborts = [
      new DOMException("This operation was aborted", "AbortError"),
      new APIUserAbortError("Request was aborted."),
      Object.assign(new Error("The user aborted a request."), { name: "AbortError" }),
      new DOMException("signal is aborted without reason", "TimeoutError"),
    ];
    for (const thrown of aborts) {
      const seen = [];
      const err = await rejection(pool.run(({ profileId }) => {
        seen.push(profileId);
        throw thrown;
      }));
      assert.equal(err, thrown);
      assert.equal(seen.length, 1, `${thrown.name}: only one key tried`);
    }
    for (const id of ["k0", "k1"]) {
      assert.equal(statusOf(pool, id).errorCount, 0);
      assert.equal(statusOf(pool, id).inFlight, 0);
    }
  });

  await t.test("a deadline's abort (its message says timeout) is a timeout and rotates", async () => {
    const clock = manualClock();
    const pool = new Pool({ profiles: [{ id: "k0", provider: "p", apiKey: "key-zero-0123456789" }, { id: "k1", provider: "p", apiKey: "key-one-0123456789" }], clock: clock.fn });
    // What fetch throws for AbortSignal.timeout().
    const res = await pool.run(({ profileId }) => {
      if (profileId === "k0") throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
      return "ok";
    });
    assert.equal(res.profileId, "k1");
    assert.equal(res.attempts[0].reason, "timeout");
    assert.equal(statusOf(pool, "k0").cooldownUntil, T0 + MIN);
  });
});

test("an error event in the middle of a stream is classified by its type, as the same error before the stream", async (t) => {
  const streams = {
    openai: (apiKey) =>
      new OpenAI({ apiKey, baseURL: `${base}/v1`, maxRetries: 0 }).chat.completions
        .create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], stream: true })
        .then(async (stream) => {
          let text = "";
          for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
          return text;
        }),
    anthropic: (apiKey) =>
      new Anthropic({ apiKey, baseURL: base, maxRetries: 0 }).messages
        .create({ model: "claude", max_tokens: 16, messages: [{ role: "user", content: "hi" }], stream: true })
        .then(async (stream) => {
          let text = "";
          for await (const event of stream) if (event.type === "content_block_delta") text += event.delta.text;
          return text;
        }),
  };
  for (const [sdk, call] of Object.entries(streams)) {
    await t.test(sdk, async () => {
      const direct = await rejection(call(`mid~${sdk}-direct-0123456789`));
      assert.equal(direct.status, undefined, "no HTTP status: the 200 came first");
      assert.equal(classifyError(direct), "server_error", `${direct.constructor.name}: ${direct.message}`);
      const clock = manualClock();
      // `unknown: { rotate: false }` (the README's example): a server error must still rotate.
      const pool = new Pool({
        profiles: [{ id: "k0", provider: sdk, apiKey: `mid~k0-${sdk}-0123456789` }, { id: "k1", provider: sdk, apiKey: `mid-ok~k1-${sdk}-0123456789` }],
        policy: { unknown: { rotate: false } },
        clock: clock.fn,
      });
      const res = await pool.run(({ apiKey }) => call(apiKey));
      assert.equal(res.profileId, "k1");
      assert.equal(res.value, "hello");
      assert.equal(res.attempts[0].reason, "server_error");
      assert.equal(statusOf(pool, "k0").cooldownUntil, T0 + MIN);
    });
  }
});

test("the SDKs' own errors about the request, thrown with no status, are format: rethrown at once, no key rests (was: unknown, every key rested 1 min)", async () => {
  // An answer cut at the length limit: the OpenAI SDK's parse() throws LengthFinishReasonError.
  const cut = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      const message = { role: "assistant", content: '{"a":', refusal: null };
      res.end(JSON.stringify({ id: "c", object: "chat.completion", created: 0, model: "gpt-4o", choices: [{ index: 0, message, finish_reason: "length", logprobs: null }] }));
    });
  });
  await new Promise((resolve) => cut.listen(0, "127.0.0.1", resolve));
  const cutBase = `http://127.0.0.1:${cut.address().port}`;
  const calls = {
    "LengthFinishReasonError (OpenAI's parse of a cut answer)": (apiKey) =>
      new OpenAI({ apiKey, baseURL: `${cutBase}/v1`, maxRetries: 0 }).chat.completions.parse({
        model: "gpt-4o",
        messages: [{ role: "user", content: "hi" }],
        response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object" }, strict: true } },
      }),
    // Thrown before anything is sent: a long request without streaming.
    "Anthropic's \"Streaming is required …\"": (apiKey) =>
      new Anthropic({ apiKey, baseURL: cutBase, maxRetries: 0 }).messages.create({ model: "claude-opus-4-1", max_tokens: 64000, messages: [{ role: "user", content: "hi" }] }),
  };
  try {
    for (const [what, call] of Object.entries(calls)) {
      const clock = manualClock(T0);
      const pool = new Pool({ profiles: [0, 1].map((i) => ({ id: `k${i}`, provider: "p", apiKey: `sk-request-${i}-0123456789abcdef` })), clock: clock.fn, maxWaitMs: 0 });
      let tasks = 0;
      const error = await rejection(pool.run(({ apiKey }) => (tasks++, call(apiKey))));
      assert.equal(classifyError(error), "format", `${what}: ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(tasks, 1, `${what}: no other key tried`);
      for (const id of ["k0", "k1"]) assert.equal(statusOf(pool, id).state, "available", `${what}: ${id} does not rest`);
    }
  } finally {
    cut.closeAllConnections();
    cut.close();
  }
});
