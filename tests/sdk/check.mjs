// SDK compatibility checks for bo1-fake-llm: the official Anthropic and OpenAI clients must
// accept its replies and map its injected faults to their own error classes.
// Usage: node check.mjs PORT API_KEY   (run.sh starts the fake and calls this)
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const port = process.argv[2];
const key = process.argv[3];
const base = `http://127.0.0.1:${port}`;
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function admin(method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert(r.ok, `${method} ${path} -> ${r.status}`);
  return r.json();
}

async function expectError(promise, cls, status) {
  try {
    await promise;
  } catch (e) {
    assert(e instanceof cls, `expected ${cls.name}, got ${e && e.constructor && e.constructor.name}: ${e}`);
    assert(e.status === status, `expected status ${status}, got ${e.status}`);
    return e;
  }
  throw new Error(`expected ${cls.name}, but the call succeeded`);
}

async function waitHealthy() {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${base}/_fake/health`);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('bo1-fake-llm did not become healthy');
}

const anthropic = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0, timeout: 10000 });
const openai = new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0, timeout: 10000 });
const bo1 = (task) => ({ headers: { 'X-Bo1-Task': task, 'X-Bo1-Session': 'sdk-session' } });
const stable = 'You are a member of an advisory board. '.repeat(20);

function messagesParams(round) {
  return {
    model: 'claude-fake-1',
    max_tokens: 1024,
    system: [
      { type: 'text', text: stable, cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'Speak plainly.' },
    ],
    messages: [
      {
        role: 'user',
        content: `<round>${round}</round><speaker code="cfo"><problem>Should we open a second shop?</problem>`,
      },
    ],
  };
}

await waitHealthy();
await admin('DELETE', '/_fake/requests');

let firstUsage;
await check('anthropic messages.create returns a contribution', async () => {
  const msg = await anthropic.messages.create(messagesParams(1), bo1('contribute'));
  assert(msg.type === 'message' && msg.role === 'assistant', 'type/role');
  assert(msg.id.startsWith('msg_'), `id ${msg.id}`);
  assert(msg.stop_reason === 'end_turn', `stop_reason ${msg.stop_reason}`);
  assert(msg.content[0].type === 'text' && msg.content[0].text.includes('<contribution>'), 'text');
  assert(msg._request_id && msg._request_id.startsWith('req_'), `request id ${msg._request_id}`);
  firstUsage = msg.usage;
  assert(firstUsage.cache_creation_input_tokens > 0, 'cache write on first call');
  assert(firstUsage.cache_read_input_tokens === 0, 'no cache read on first call');
});

await check('anthropic usage reads the cached prefix on the second call', async () => {
  const msg = await anthropic.messages.create(messagesParams(2), bo1('contribute'));
  assert(msg.usage.cache_read_input_tokens === firstUsage.cache_creation_input_tokens,
    `cache_read ${msg.usage.cache_read_input_tokens} vs ${firstUsage.cache_creation_input_tokens}`);
  assert(msg.usage.cache_creation_input_tokens === 0, 'nothing new to write');
  assert(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, 'token counts');
});

await check('anthropic max_tokens cut gives stop_reason max_tokens', async () => {
  const msg = await anthropic.messages.create({ ...messagesParams(1), max_tokens: 8 }, bo1('contribute'));
  assert(msg.stop_reason === 'max_tokens', msg.stop_reason);
  assert(msg.usage.output_tokens <= 8, `output ${msg.usage.output_tokens}`);
});

await check('the request log shows what the SDK sent', async () => {
  const recs = await admin('GET', '/_fake/requests?task=contribute');
  assert(recs.length === 3, `${recs.length} records`);
  const h = recs[0].headers;
  assert(h['x-api-key'] === key || h['authorization'] === `Bearer ${key}`, 'auth header');
  assert(typeof h['anthropic-version'] === 'string', 'anthropic-version header');
  assert(h['x-bo1-session'] === 'sdk-session', 'session header');
  assert(recs[0].body.system[0].cache_control.type === 'ephemeral', 'cache_control recorded');
});

await check('openai chat.completions.create returns an answer', async () => {
  const params = {
    model: 'gpt-fake',
    messages: [
      { role: 'system', content: stable },
      { role: 'user', content: '<round>1</round><problem>Hire a CTO?</problem>' },
    ],
  };
  const c1 = await openai.chat.completions.create(params, bo1('facilitate'));
  assert(c1.object === 'chat.completion' && c1.id.startsWith('chatcmpl-'), 'object/id');
  const answer = JSON.parse(c1.choices[0].message.content);
  assert(answer.action === 'continue', `action ${answer.action}`);
  assert(c1.choices[0].finish_reason === 'stop', c1.choices[0].finish_reason);
  assert(c1.usage.prompt_tokens > 0 && c1.usage.total_tokens > c1.usage.prompt_tokens, 'usage');
  const c2 = await openai.chat.completions.create(params, bo1('facilitate'));
  assert(c2.usage.prompt_tokens_details.cached_tokens > 0, 'cached tokens on repeat');
});

await check('openai embeddings.create (SDK default base64) decodes to unit vectors', async () => {
  const e = await openai.embeddings.create({ model: 'embed-fake', input: ['open a shop', 'open a new shop'] });
  assert(e.object === 'list' && e.data.length === 2, 'list of 2');
  const v = e.data[0].embedding;
  assert(Array.isArray(v) && v.length === 256, `dimension ${v.length}`);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
  assert(e.usage.total_tokens > 0, 'usage');
});

await check('openai embeddings.create with float format and dimensions', async () => {
  const e = await openai.embeddings.create({ model: 'embed-fake', input: 'hello', encoding_format: 'float', dimensions: 16 });
  assert(e.data[0].embedding.length === 16, `dimension ${e.data[0].embedding.length}`);
  assert(e.data[0].index === 0, 'index');
});

await check('anthropic 429 raises RateLimitError', async () => {
  await admin('POST', '/_fake/faults', { error: '429', count: 1, retry_after: 1 });
  const e = await expectError(anthropic.messages.create(messagesParams(1), bo1('vote')), Anthropic.RateLimitError, 429);
  assert(e.headers.get('retry-after') === '1', 'retry-after header');
  assert(e.error.error.type === 'rate_limit_error', JSON.stringify(e.error));
});

await check('anthropic spend limit is a 429 with error_code', async () => {
  await admin('POST', '/_fake/faults', { error: 'spend_limit', count: 1 });
  const e = await expectError(anthropic.messages.create(messagesParams(1), bo1('vote')), Anthropic.RateLimitError, 429);
  assert(e.error.error.details.error_code === 'enforced_spend_limit_reached', JSON.stringify(e.error));
});

await check('anthropic 500 raises InternalServerError', async () => {
  await admin('POST', '/_fake/faults', { error: '500', count: 1 });
  await expectError(anthropic.messages.create(messagesParams(1), bo1('vote')), Anthropic.InternalServerError, 500);
});

await check('anthropic 529 raises InternalServerError (overloaded_error)', async () => {
  await admin('POST', '/_fake/faults', { error: '529', count: 1 });
  const e = await expectError(anthropic.messages.create(messagesParams(1), bo1('vote')), Anthropic.InternalServerError, 529);
  assert(e.error.error.type === 'overloaded_error', JSON.stringify(e.error));
});

await check('anthropic wrong key raises AuthenticationError', async () => {
  const bad = new Anthropic({ apiKey: 'wrong', baseURL: base, maxRetries: 0 });
  await expectError(bad.messages.create(messagesParams(1)), Anthropic.AuthenticationError, 401);
});

await check('openai 429 raises RateLimitError', async () => {
  await admin('POST', '/_fake/faults', { error: '429', count: 1, path: '/v1/chat/completions' });
  await expectError(openai.chat.completions.create({ model: 'g', messages: [{ role: 'user', content: 'x' }] }),
    OpenAI.RateLimitError, 429);
});

await check('openai 500 raises InternalServerError', async () => {
  await admin('POST', '/_fake/faults', { error: '500', count: 1 });
  await expectError(openai.embeddings.create({ model: 'e', input: 'x' }), OpenAI.InternalServerError, 500);
});

await check('a reset connection raises APIConnectionError', async () => {
  await admin('POST', '/_fake/faults', { error: 'reset', count: 1 });
  try {
    await anthropic.messages.create(messagesParams(1));
  } catch (e) {
    assert(e instanceof Anthropic.APIConnectionError, `got ${e.constructor.name}`);
    return;
  }
  throw new Error('call succeeded');
});

await check('a hang hits the SDK timeout', async () => {
  await admin('POST', '/_fake/faults', { error: 'hang', count: 1, hang_ms: 5000 });
  const quick = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0, timeout: 300 });
  try {
    await quick.messages.create(messagesParams(1));
  } catch (e) {
    assert(e instanceof Anthropic.APIConnectionTimeoutError, `got ${e.constructor.name}`);
    return;
  }
  throw new Error('call succeeded');
});

await admin('DELETE', '/_fake/faults');
console.log(`sdk: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
