// Drives the server with the official openai SDK: structured output, whole and streamed.
// Prints one JSON line per case: {"case": ..., "text": ..., "finish": ...} or {"case": ..., "status": ..., "param": ...}.
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.argv[2], apiKey: 'unused' });
const schema = JSON.parse(process.argv[3]);
const model = 'stories260K';
const out = (o) => console.log(JSON.stringify(o));
const messages = [{ role: 'user', content: 'Tell me about a cat.' }];

for (let i = 0; i < 4; i++) {
  const r = await client.chat.completions.create({ model, messages, temperature: 1, seed: i, max_tokens: 400,
    response_format: { type: 'json_schema', json_schema: { name: 'pet', schema, strict: true } } });
  out({ case: 'chat', text: r.choices[0].message.content, finish: r.choices[0].finish_reason });
}
for (let i = 0; i < 3; i++) {
  const stream = await client.chat.completions.create({ model, messages, temperature: 1, seed: 10 + i, max_tokens: 400, stream: true,
    response_format: { type: 'json_schema', json_schema: { name: 'pet', schema } } });
  let text = '', finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c?.delta?.content) text += c.delta.content;
    if (c?.finish_reason) finish = c.finish_reason;
  }
  out({ case: 'chat-stream', text, finish });
}
// the SDK's streaming helper: its final message is the whole content
{
  const runner = client.chat.completions.stream({ model, messages, temperature: 1, seed: 42, max_tokens: 400,
    response_format: { type: 'json_schema', json_schema: { name: 'pet', schema } } });
  const done = await runner.finalChatCompletion();
  out({ case: 'chat-stream-helper', text: done.choices[0].message.content, finish: done.choices[0].finish_reason });
}
// vLLM's extensions on completions (the SDK sends unknown fields as given)
{
  const r = await client.completions.create({ model, prompt: 'The phone number is', max_tokens: 50, temperature: 1, seed: 3,
    guided_regex: '[0-9]{3}-[0-9]{4}' });
  out({ case: 'regex', text: r.choices[0].text, finish: r.choices[0].finish_reason });
  const c = await client.completions.create({ model, prompt: 'The cat is', max_tokens: 50, temperature: 1, seed: 4,
    guided_choice: ['happy', 'sad'], stream: true });
  let text = '';
  for await (const chunk of c) text += chunk.choices[0]?.text ?? '';
  out({ case: 'choice-stream', text });
}
{
  const r = await client.chat.completions.create({ model, messages, max_tokens: 4, temperature: 1, seed: 5,
    response_format: { type: 'json_object' } });
  out({ case: 'cut', text: r.choices[0].message.content, finish: r.choices[0].finish_reason });
}
try {
  await client.chat.completions.create({ model, messages,
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'integer', minimum: 1 } } } });
  out({ case: 'refused', status: 200 });
} catch (e) {
  out({ case: 'refused', status: e.status, param: e.param ?? e.error?.param, message: e.message });
}
