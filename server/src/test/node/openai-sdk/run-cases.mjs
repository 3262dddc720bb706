// Runs request cases against a server with the official openai client and prints one JSON line per
// case: what came back, whole or assembled from the stream, or the error the client raised.
// Usage: node run-cases.mjs BASE_URL CASES.json   (cases: [{name, api: "completions"|"chat"|"models", body}])
import { readFileSync } from "node:fs";
import OpenAI from "openai";

const [baseURL, casesFile] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 120000 });
const cases = JSON.parse(readFileSync(casesFile, "utf8"));

function endpoint(api) {
  return api === "chat" ? client.chat.completions : client.completions;
}

// the stream's chunks folded into the whole response's shape: text per choice index, finish reasons, usage
async function assemble(stream, api) {
  const choices = new Map();
  let usage = null, chunks = 0, id = null;
  for await (const chunk of stream) {
    chunks++;
    id = chunk.id;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      const acc = choices.get(c.index) ?? { index: c.index, text: "", finish_reason: null, role: null };
      if (api === "chat") {
        if (c.delta?.role) acc.role = c.delta.role;
        acc.text += c.delta?.content ?? "";
      } else {
        acc.text += c.text ?? "";
      }
      if (c.finish_reason) acc.finish_reason = c.finish_reason;
      choices.set(c.index, acc);
    }
  }
  return { id, chunks, usage, choices: [...choices.values()].sort((a, b) => a.index - b.index) };
}

function whole(r, api) {
  return {
    id: r.id,
    usage: r.usage,
    prompt_logprobs: r.prompt_logprobs ?? null,   // vLLM's, chat: once per response
    choices: r.choices.map((c) => ({
      index: c.index,
      text: api === "chat" ? c.message.content : c.text,
      finish_reason: c.finish_reason,
      role: api === "chat" ? c.message.role : null,
      logprobs: c.logprobs ?? null,
      prompt_logprobs: c.prompt_logprobs ?? null,   // vLLM's, completions: per choice
    })),
  };
}

for (const c of cases) {
  try {
    if (c.api === "models") {
      const models = [];
      for await (const m of client.models.list()) models.push(m);
      const one = await client.models.retrieve(models[0].id);
      console.log(JSON.stringify({ name: c.name, ok: true, result: { data: models, retrieved: one } }));
      continue;
    }
    const r = await endpoint(c.api).create(c.body);
    const result = c.body.stream ? await assemble(r, c.api) : whole(r, c.api);
    console.log(JSON.stringify({ name: c.name, ok: true, result }));
  } catch (e) {
    if (e instanceof OpenAI.APIError) {
      console.log(JSON.stringify({ name: c.name, ok: false, status: e.status ?? null, param: e.param ?? null, message: e.message }));
    } else {
      console.log(JSON.stringify({ name: c.name, ok: false, status: null, param: null, message: String(e?.stack ?? e) }));
    }
  }
}
