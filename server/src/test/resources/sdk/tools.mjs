// Tool calls through the official openai SDK: named and required tool_choice (whole, raw stream,
// the SDK's streaming helper), auto, an agent loop's second turn, and a refused tool_choice. One JSON line per case.
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.argv[2], apiKey: 'unused' });
const tools = JSON.parse(process.argv[3]);
const model = process.argv[4];
const out = (o) => console.log(JSON.stringify(o));
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const named = { type: 'function', function: { name: 'get_weather' } };

for (let i = 0; i < 3; i++) {
  const r = await client.chat.completions.create({ model, messages, tools, tool_choice: named, temperature: 1, seed: i, max_tokens: 300 });
  const c = r.choices[0];
  out({ case: 'named', finish: c.finish_reason, content: c.message.content, calls: c.message.tool_calls });
}
{
  const stream = await client.chat.completions.create({ model, messages, tools, tool_choice: named, temperature: 1, seed: 7, max_tokens: 300, stream: true });
  const calls = [];
  let finish = null, chunks = 0;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    for (const d of c.delta?.tool_calls ?? []) {
      chunks++;
      if (d.id) calls[d.index] = { id: d.id, type: d.type, function: { name: d.function.name, arguments: '' } };
      calls[d.index].function.arguments += d.function?.arguments ?? '';
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  out({ case: 'named-stream', finish, calls, chunks });
}
{
  const runner = client.chat.completions.stream({ model, messages, tools, tool_choice: 'required', temperature: 1, seed: 8, max_tokens: 450 });
  const done = [];
  runner.on('tool_calls.function.arguments.done', (e) => done.push(e.name));
  const final = await runner.finalChatCompletion();
  const c = final.choices[0];
  out({ case: 'required-helper', finish: c.finish_reason, calls: c.message.tool_calls, done });
}
{
  const r = await client.chat.completions.create({ model, messages, tools, tool_choice: 'required', temperature: 1, seed: 9, max_tokens: 450 });
  out({ case: 'required', finish: r.choices[0].finish_reason, calls: r.choices[0].message.tool_calls });
}
{
  const r = await client.chat.completions.create({ model, messages, tools, temperature: 0, max_tokens: 20 });
  const plain = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 1 });
  out({ case: 'auto', finish: r.choices[0].finish_reason, content: r.choices[0].message.content, calls: r.choices[0].message.tool_calls ?? null,
    promptTokens: r.usage.prompt_tokens, promptTokensWithoutTools: plain.usage.prompt_tokens });
}
// auto with the output forced (guided_regex) to be text, then a Hermes call: the text streams as content
// before the call, the call as an id/name delta and argument pieces
const oneCall = 'Let me check\\. <tool_call>\\{"name": "add", "arguments": \\{"a": [1-9][0-9]{0,2}, "b": [1-9][0-9]{0,2}\\}\\}</tool_call>';
{
  const stream = await client.chat.completions.create({ model, messages, tools, guided_regex: oneCall, temperature: 1, seed: 3, max_tokens: 200, stream: true });
  const calls = [], order = [];
  let finish = null, content = '', argumentChunks = 0;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta?.content) { content += c.delta.content; order.push('content'); }
    for (const d of c.delta?.tool_calls ?? []) {
      if (d.id) { calls[d.index] = { id: d.id, type: d.type, function: { name: d.function.name, arguments: '' } }; order.push('call'); }
      else argumentChunks++;
      calls[d.index].function.arguments += d.function?.arguments ?? '';
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  out({ case: 'auto-stream', finish, calls, content, argumentChunks, firstContentBeforeCall: order.indexOf('content') < order.indexOf('call') });
}
{
  const runner = client.chat.completions.stream({ model, messages, tools, guided_regex: oneCall, temperature: 1, seed: 4, max_tokens: 200 });
  const done = [], contentDeltas = [];
  runner.on('tool_calls.function.arguments.done', (e) => done.push(e.name));
  runner.on('content.delta', (e) => contentDeltas.push(e.delta));
  const final = await runner.finalChatCompletion();
  const c = final.choices[0];
  out({ case: 'auto-helper', finish: c.finish_reason, calls: c.message.tool_calls, content: c.message.content, done, contentDeltas: contentDeltas.length });
}
{
  // parallel_tool_calls false: one call at most, whether the model writes two (auto) or is forced (required)
  const twoCalls = '(<tool_call>\\{"name": "add", "arguments": \\{"a": [1-9], "b": [1-9]\\}\\}</tool_call>){2}';
  const r = await client.chat.completions.create({ model, messages, tools, guided_regex: twoCalls, parallel_tool_calls: false, temperature: 1, seed: 5, max_tokens: 200 });
  const both = await client.chat.completions.create({ model, messages, tools, guided_regex: twoCalls, temperature: 1, seed: 5, max_tokens: 200 });
  out({ case: 'auto-single', finish: r.choices[0].finish_reason, calls: r.choices[0].message.tool_calls, parallelCalls: both.choices[0].message.tool_calls.length });
  const runner = client.chat.completions.stream({ model, messages, tools, tool_choice: 'required', parallel_tool_calls: false, temperature: 1, seed: 6, max_tokens: 300 });
  const final = await runner.finalChatCompletion();
  out({ case: 'required-single', finish: final.choices[0].finish_reason, calls: final.choices[0].message.tool_calls });
}
{
  // an agent loop: the forced call, the tool's result sent back with the assistant's message as the SDK
  // returned it (content null, tool_calls), then the answer, streamed through the SDK's helper
  const first = await client.chat.completions.create({ model, messages, tools, tool_choice: named, temperature: 1, seed: 11, max_tokens: 300 });
  const call = first.choices[0].message.tool_calls[0];
  const result = JSON.stringify({ city: JSON.parse(call.function.arguments).city, temperature: 21 });
  const history = [...messages, first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: result }];
  const runner = client.chat.completions.stream({ model, messages: history, tools, temperature: 0, max_tokens: 12, stream_options: { include_usage: true } });
  const final = await runner.finalChatCompletion();
  const c = final.choices[0];
  out({ case: 'agent-loop', firstFinish: first.choices[0].finish_reason, call, history, finish: c.finish_reason, answer: c.message.content,
    calls: c.message.tool_calls ?? null, promptTokens: final.usage?.prompt_tokens ?? null, firstPromptTokens: first.usage.prompt_tokens });
}
try {
  await client.chat.completions.create({ model, messages, tools, tool_choice: { type: 'function', function: { name: 'nope' } } });
  out({ case: 'refused', status: 200 });
} catch (e) {
  out({ case: 'refused', status: e.status, param: e.param ?? e.error?.param, message: e.message });
}
