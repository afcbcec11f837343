// Drives a Kvasir server with the official `openai` npm client; prints one JSON line of what it saw.
// Usage: node client.mjs BASE_URL MODEL   (NODE_PATH names the folder holding node_modules/openai)
import { createRequire } from 'node:module';
const require = createRequire(process.env.OPENAI_MODULE_DIR + '/');
const OpenAI = require('openai').default ?? require('openai');

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'not-needed-open-server' });
const out = {};
const models = await client.models.list();
out.models = models.data.map((m) => m.id);
const completion = await client.completions.create({ model, prompt: 'the model', max_tokens: 8, temperature: 0 });
out.completion = { text: completion.choices[0].text, finish: completion.choices[0].finish_reason, usage: completion.usage };
const messages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi there' }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0 });
out.chat = { role: chat.choices[0].message.role, content: chat.choices[0].message.content,
  finish: chat.choices[0].finish_reason, usage: chat.usage };
const stream = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0, stream: true });
let streamed = '';
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  streamed += chunk.choices[0]?.delta?.content ?? '';
}
out.stream = { content: streamed, chunks };
try {
  await client.completions.create({ model: 'no-such-model', prompt: 'x', max_tokens: 2 });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, type: e.type ?? e.error?.type };
}
console.log(JSON.stringify(out));
