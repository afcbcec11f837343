// The sampling controls and request fields vLLM users send, through the official `openai` npm client;
// prints one JSON line of what it saw. Usage: node sampling.mjs BASE_URL MODEL
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
// bad values: 400 naming the field
out.errors = {};
for (const [name, extra] of Object.entries({ min_p: { min_p: 2 }, logit_bias: { logit_bias: { abc: 1 } },
  logit_bias_token: { logit_bias: { '999999': 1 } }, presence_penalty: { presence_penalty: 'high' },
  stop_token_ids: { stop_token_ids: [-1] } })) {
  try {
    await client.completions.create({ ...base, ...extra });
    out.errors[name] = null;
  } catch (e) {
    out.errors[name] = { status: e.status, param: e.param ?? e.error?.param ?? null };
  }
}
console.log(JSON.stringify(out));
