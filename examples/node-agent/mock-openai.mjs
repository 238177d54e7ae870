// A stand-in for the OpenAI API, so the example runs with no account: the first key gets
// 429 with `retry-after: 2`, the others an answer. Node built-ins only.
import http from "node:http";

export async function startMockOpenAI() {
  const keys = ["sk-example-0-aaaaaaaaaaaaaaaaaaaa", "sk-example-1-bbbbbbbbbbbbbbbbbbbb", "sk-example-2-cccccccccccccccccccc"];
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const key = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
    const send = (status, obj, headers = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(obj));
    };
    if (req.url !== "/v1/chat/completions") return send(404, { error: { message: "not found" } });
    if (key === keys[0]) return send(429, { error: { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" } }, { "retry-after": "2" });
    if (!keys.includes(key)) return send(401, { error: { message: "Incorrect API key provided", code: "invalid_api_key" } });
    const { model } = JSON.parse(body);
    send(200, {
      id: "chatcmpl-mock",
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message: { role: "assistant", content: `Hello from ${model} (mock OpenAI)`, refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, keys, close: () => new Promise((r) => server.close(r)) };
}
