// Structured output through the official `openai` npm client, checked with Ajv (a JSON Schema
// validator); prints one JSON line of what it saw. Usage: node structured.mjs BASE_URL MODEL
import { createRequire } from 'node:module';
const require = createRequire(process.env.OPENAI_MODULE_DIR + '/');
const OpenAI = require('openai').default ?? require('openai');
const Ajv = require('ajv').default ?? require('ajv');

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'not-needed-open-server' });
const messages = [{ role: 'user', content: 'describe a person' }];
const schema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 12 },
    age: { type: 'integer' },
    tags: { type: 'array', items: { type: 'string', enum: ['red', 'green', 'blue'] }, maxItems: 3 },
    member: { type: 'boolean' },
    score: { type: 'number' },
    kind: { enum: ['cat', 'dog', null] },
    address: { type: 'object', properties: { city: { type: 'string', maxLength: 8 } }, required: ['city'] },
  },
  required: ['name', 'age', 'tags', 'member', 'score', 'kind', 'address'],
  additionalProperties: false,
};
const validate = new Ajv().compile(schema);
const out = { schema: [], object: [], choice: [], errors: {} };
const rate = async (body) => {
  const t0 = performance.now();
  const r = await client.chat.completions.create(body);
  return { r, tokensPerSecond: r.usage.completion_tokens / ((performance.now() - t0) / 1000) };
};
for (let seed = 0; seed < 20; seed++) {
  const { r, tokensPerSecond } = await rate({ model, messages, temperature: 1, seed, max_tokens: 300,
    response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } } });
  const text = r.choices[0].message.content;
  let parsed = null;
  try { parsed = JSON.parse(text); } catch (e) { /* reported as not parsing */ }
  out.schema.push({ text, parses: parsed !== null, valid: parsed !== null && validate(parsed), finish: r.choices[0].finish_reason,
    tokens: r.usage.completion_tokens, tokensPerSecond });
}
for (let seed = 0; seed < 5; seed++) {
  const r = await client.chat.completions.create({ model, messages, temperature: 1, seed, max_tokens: 400,
    response_format: { type: 'json_object' } });
  const text = r.choices[0].message.content;
  let parsed = null;
  try { parsed = JSON.parse(text); } catch (e) { /* reported */ }
  out.object.push({ text, isObject: parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) });
}
for (let seed = 0; seed < 5; seed++) {
  const r = await client.completions.create({ model, prompt: 'pick one', temperature: 1, seed, max_tokens: 10,
    guided_choice: ['yes', 'no', 'maybe so'] });
  out.choice.push(r.choices[0].text);
}
// the same requests unconstrained, as many tokens each (ignore_eos), for tokens per second
out.free = [];
for (let seed = 0; seed < 5; seed++) {
  const { r, tokensPerSecond } = await rate({ model, messages, temperature: 1, seed, ignore_eos: true,
    max_tokens: out.schema[15 + seed].tokens });
  out.free.push({ tokens: r.usage.completion_tokens, tokensPerSecond });
}
// tool calls: a named tool_choice and "required" always give a well-formed call of a listed tool
const weather = { type: 'function', function: { name: 'get_weather', description: 'the weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string', minLength: 1, maxLength: 10 }, days: { type: 'integer' } },
    required: ['city', 'days'] } } };
const add = { type: 'function', function: { name: 'add', parameters: { type: 'object',
  properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] } } };
const validateWeather = new Ajv().compile(weather.function.parameters);
out.tools = [];
for (let seed = 0; seed < 5; seed++) {
  for (const tool_choice of [{ type: 'function', function: { name: 'get_weather' } }, 'required']) {
    const r = await client.chat.completions.create({ model, messages, tools: [weather, add], tool_choice, temperature: 1,
      seed, max_tokens: 120 });
    const c = r.choices[0];
    const call = c.message.tool_calls?.[0]?.function;
    let args = null;
    try { args = JSON.parse(call?.arguments); } catch (e) { /* reported */ }
    out.tools.push({ choice: typeof tool_choice === 'string' ? tool_choice : 'named', finish: c.finish_reason,
      name: call?.name ?? null, argsParse: args !== null, weatherValid: call?.name === 'get_weather' && validateWeather(args),
      id: c.message.tool_calls?.[0]?.id ?? null });
  }
}
const streamed = { name: '', arguments: '', finish: null };
for await (const chunk of await client.chat.completions.create({ model, messages, tools: [weather, add], temperature: 0,
  max_tokens: 120, stream: true, tool_choice: { type: 'function', function: { name: 'add' } } })) {
  for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
    streamed.name += tc.function?.name ?? '';
    streamed.arguments += tc.function?.arguments ?? '';
  }
  streamed.finish = chunk.choices[0]?.finish_reason ?? streamed.finish;
}
out.streamedCall = streamed;
try {
  await client.chat.completions.create({ model, messages, max_tokens: 5, tools: [weather],
    tool_choice: { type: 'function', function: { name: 'launch' } } });
  out.errors.unknownFunction = null;
} catch (e) {
  out.errors.unknownFunction = { status: e.status, param: e.param ?? e.error?.param ?? null, message: e.message };
}
for (const [name, format] of Object.entries({
  unknownType: { type: 'xml' },
  badSchema: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'strng' } } } } },
  unsupported: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'integer', minimum: 3 } } } })) {
  try {
    await client.chat.completions.create({ model, messages, max_tokens: 5, response_format: format });
    out.errors[name] = null;
  } catch (e) {
    out.errors[name] = { status: e.status, param: e.param ?? e.error?.param ?? null, message: e.message };
  }
}
console.log(JSON.stringify(out));
