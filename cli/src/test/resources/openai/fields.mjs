// The sampling controls and request fields vLLM users send, through the official `openai` npm client
// (and vLLM's /tokenize and /detokenize with fetch); prints one JSON line of what it saw.
// Usage: node fields.mjs BASE_URL MODEL
import { createRequire } from 'node:module';
const require = createRequire(process.env.OPENAI_MODULE_DIR + '/');
const OpenAI = require('openai').default ?? require('openai');

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'not-needed-open-server' });
const out = {};
const ids = (c) => c.choices[0].token_ids;
const prompt = 'the model';
const base = { model, prompt, max_tokens: 8, temperature: 0, return_token_ids: true };

out.greedy = ids(await client.completions.create(base));
// +100 forces a token, greedy or sampled
out.forced = ids(await client.completions.create({ ...base, logit_bias: { '300': 100 } }));
out.forcedSampled = ids(await client.completions.create({ ...base, temperature: 1, seed: 3, logit_bias: { '300': 100 } }));
// -100 on the greedy first token: another first token
out.forbidden = ids(await client.completions.create({ ...base, logit_bias: { [String(out.greedy[0])]: -100 } }));
// penalties change what greedy repeats
out.presence = ids(await client.completions.create({ ...base, max_tokens: 16, presence_penalty: 2 }));
out.frequency = ids(await client.completions.create({ ...base, max_tokens: 16, frequency_penalty: 2 }));
out.repetition = ids(await client.completions.create({ ...base, max_tokens: 16, repetition_penalty: 5 }));
out.greedy16 = ids(await client.completions.create({ ...base, max_tokens: 16 }));
// min_p 1 keeps only the likeliest token: greedy even at temperature 2
out.minP = ids(await client.completions.create({ ...base, temperature: 2, seed: 5, min_p: 1 }));
// stop_token_ids: generation ends before the greedy run's fourth token
const stopped = await client.completions.create({ ...base, stop_token_ids: [out.greedy[3]] });
out.stopped = { ids: ids(stopped), finish: stopped.choices[0].finish_reason };
// max_completion_tokens bounds a chat answer
const messages = [{ role: 'user', content: 'hi there' }];
const chat = await client.chat.completions.create({ model, messages, max_completion_tokens: 3, temperature: 0,
  logit_bias: { '300': 100 } });
out.chat = { content: chat.choices[0].message.content, finish: chat.choices[0].finish_reason, usage: chat.usage };
// stream_options.include_usage: a last chunk with no choices and the usage
const stream = await client.chat.completions.create({ model, messages, max_tokens: 4, temperature: 0, stream: true,
  stream_options: { include_usage: true } });
const chunks = [];
for await (const chunk of stream) {
  chunks.push({ choices: chunk.choices.length, usage: chunk.usage ?? null });
}
out.streamUsage = chunks;
// n choices: distinct under a seed, the same again with it; streamed, each chunk names its choice
const many = { ...base, n: 3, temperature: 1, seed: 7, max_tokens: 6 };
out.n = (await client.completions.create(many)).choices.map((c) => ({ index: c.index, ids: c.token_ids }));
out.nAgain = (await client.completions.create(many)).choices.map((c) => c.token_ids);
const texts = {};
for await (const chunk of await client.completions.create({ ...many, stream: true, return_token_ids: false })) {
  for (const c of chunk.choices) texts[c.index] = (texts[c.index] ?? '') + c.text;
}
out.nStreamed = texts;
out.nText = (await client.completions.create({ ...many, return_token_ids: false })).choices.map((c) => c.text);
// echo: the prompt, then the completion
out.echo = (await client.completions.create({ ...base, echo: true, return_token_ids: false })).choices[0].text;
out.plain = (await client.completions.create({ ...base, return_token_ids: false })).choices[0].text;
// vLLM's /tokenize and /detokenize
const root = baseURL.replace(/\/v1$/, '');
const post = async (path, body) => {
  const r = await fetch(root + path, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};
out.tokenize = (await post('/tokenize', { model, prompt: 'hello world' })).body;
out.detokenize = (await post('/detokenize', { model, tokens: out.tokenize.tokens })).body;
out.detokenizeBad = await post('/detokenize', { tokens: [1, 99999] });
// logprobs of the engine's raw logits; a prompt long enough to go through the prefill node first
const longPrompt = Array.from({ length: 300 }, (_, i) => 3 + ((i * 7919 + 13) % 350));
const withLogprobs = await client.completions.create({ model, prompt: longPrompt, max_tokens: 4, temperature: 0,
  logprobs: 3, return_token_ids: true });
out.logprobs = { ids: withLogprobs.choices[0].token_ids, logprobs: withLogprobs.choices[0].logprobs };
const chatLogprobs = await client.chat.completions.create({ model, messages, max_tokens: 3, temperature: 0,
  logprobs: true, top_logprobs: 2 });
out.chatLogprobs = chatLogprobs.choices[0].logprobs;
// the Responses API: the chat completion it means, as a response object or its events
const asked = { model, input: 'hello there', instructions: 'be brief', max_output_tokens: 6, temperature: 0 };
const resp = await client.responses.create(asked);
out.responses = { text: resp.output_text, status: resp.status, usage: resp.usage, type: resp.output[0]?.type };
const same = await client.chat.completions.create({ model, max_tokens: 6, temperature: 0,
  messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }] });
out.responsesChat = same.choices[0].message.content;
const events = [];
let deltas = '';
for await (const ev of await client.responses.create({ ...asked, stream: true })) {
  events.push(ev.type);
  if (ev.type === 'response.output_text.delta') deltas += ev.delta;
}
out.responsesStream = { deltas, events };
out.responsesJson = (await client.responses.create({ model, input: 'x', max_output_tokens: 200, temperature: 1, seed: 1,
  text: { format: { type: 'json_schema', name: 'p', schema: { type: 'object', properties: { a: { type: 'integer' } },
    required: ['a'] } } } })).output_text;
// bad values: 400 naming the field
out.errors = {};
for (const [name, extra] of Object.entries({ min_p: { min_p: 2 }, logit_bias: { logit_bias: { abc: 1 } },
  logit_bias_token: { logit_bias: { '999999': 1 } }, presence_penalty: { presence_penalty: 'high' },
  stop_token_ids: { stop_token_ids: [-1] }, n: { n: 17 }, logprobs: { logprobs: 21 } })) {
  try {
    await client.completions.create({ ...base, ...extra });
    out.errors[name] = null;
  } catch (e) {
    out.errors[name] = { status: e.status, param: e.param ?? e.error?.param ?? null };
  }
}
console.log(JSON.stringify(out));
