// Contract test: starts redis-server, bo1-fake-llm and bo1d on free ports, calls every
// route of api-spec/openapi.yaml for success and for each error status it can provoke,
// and validates every live response (status documented, Content-Type, body schema,
// required headers) against the document. A full deliberation is followed over SSE and
// each event is validated against its payload schema.
//
// Usage: node contract.mjs <build-dir> <openapi.yaml>
// Last line: "openapi-contract: N passed, N failed".
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';

const [buildDir, specPath] = process.argv.slice(2);
if (!buildDir || !specPath) {
  console.error('usage: node contract.mjs <build-dir> <openapi.yaml>');
  process.exit(2);
}
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const spec = YAML.parse(fs.readFileSync(specPath, 'utf8'));

// ------------------------------------------------------------------ counting

let passed = 0;
let failed = 0;
function check(ok, what, extra) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL ${what}${extra ? `: ${extra}` : ''}`);
  }
  return ok;
}

// ------------------------------------------------------------------ schema validation

const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
ajv.addSchema(spec, 'openapi');
const validators = new Map();
function schemaValidator(pointer) {
  if (!validators.has(pointer)) validators.set(pointer, ajv.getSchema(`openapi#${pointer}`));
  return validators.get(pointer);
}
function deref(obj) {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/');
    obj = parts.reduce((o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
  }
  return obj;
}
function refPointer(schema, fallback) {
  return schema && schema.$ref ? schema.$ref.slice(1) : fallback;
}
function validateAgainst(pointer, value) {
  const v = schemaValidator(pointer);
  if (!v) return `no schema at ${pointer}`;
  if (v(value)) return null;
  return ajv.errorsText(v.errors.slice(0, 4), { dataVar: 'body' });
}

// Statuses any path may answer (too long a target, too large headers, an unknown transfer
// coding, a request late in full), documented once as components.
const EDGE = { 408: 'RequestTimeout', 414: 'UriTooLong', 431: 'HeaderFieldsTooLarge', 501: 'NotImplemented' };
const seenStatus = new Map(); // "METHOD template" -> Set of statuses seen
const seenEvents = new Map(); // event type -> count

// Validate one live response against the operation's documented responses.
function validate(label, method, template, res) {
  const key = `${method.toUpperCase()} ${template}`;
  if (!seenStatus.has(key)) seenStatus.set(key, new Set());
  seenStatus.get(key).add(String(res.status));
  const item = spec.paths[template];
  const op = item && item[method.toLowerCase()];
  let r;
  if (!op) {
    // A method the path does not answer: 405 with Allow naming exactly the documented
    // methods (plus HEAD with GET, and OPTIONS), per the document's description.
    if (!item) return check(false, label, `${template} is not in the document`);
    if (res.status !== 405) return check(false, label, `${key} is undocumented and answered ${res.status}`);
    const methods = Object.keys(item).filter((m) => m !== 'parameters').map((m) => m.toUpperCase());
    if (methods.includes('GET')) methods.push('HEAD');
    methods.push('OPTIONS');
    const allow = (res.headers.allow || '').split(',').map((m) => m.trim()).filter(Boolean);
    if (allow.sort().join(',') !== methods.sort().join(','))
      return check(false, label, `Allow "${res.headers.allow}" != documented ${methods.join(', ')}`);
    r = deref({ $ref: '#/components/responses/MethodNotAllowed' });
  } else if (!op.responses[String(res.status)] && EDGE[String(res.status)]) {
    // Edge errors apply to every path; the document describes them once (info.description).
    r = deref({ $ref: `#/components/responses/${EDGE[String(res.status)]}` });
  } else {
    r = deref(op.responses[String(res.status)]);
  }
  if (!r) return check(false, label, `status ${res.status} not documented for ${key}: ${res.body.slice(0, 200)}`);
  const problems = [];
  for (const [name, h] of Object.entries(r.headers || {})) {
    const hd = deref(h);
    const value = res.headers[name.toLowerCase()];
    if (value === undefined) {
      if (hd.required) problems.push(`missing header ${name}`);
      continue;
    }
    let v = value;
    if (hd.schema && hd.schema.type === 'integer') v = /^[0-9]+$/.test(value) ? Number(value) : value;
    const ajvHeader = ajv.compile({ ...hd.schema });
    if (!ajvHeader(v)) problems.push(`header ${name}: ${JSON.stringify(value)} ${ajv.errorsText(ajvHeader.errors)}`);
  }
  if (!res.headers['x-request-id']) problems.push('missing X-Request-ID');
  const ctFull = res.headers['content-type'] || '';
  const ct = ctFull.split(';')[0].trim();
  if (!r.content) {
    if (res.body.length) problems.push(`body where none is documented (${res.body.length} bytes)`);
  } else if (!r.content[ct]) {
    problems.push(`Content-Type ${ctFull || '(none)'} not documented (${Object.keys(r.content).join(', ')})`);
  } else if (ct === 'application/json' || ct === 'application/problem+json') {
    let body;
    try {
      body = JSON.parse(res.body);
    } catch (e) {
      problems.push(`body is not JSON: ${e.message}`);
    }
    if (body !== undefined) {
      const pointer = refPointer(r.content[ct].schema, null);
      const err = pointer ? validateAgainst(pointer, body) : 'inline schema';
      if (err) problems.push(err);
      if (ct === 'application/problem+json' && body && body.status !== res.status)
        problems.push(`problem status ${body.status} != HTTP ${res.status}`);
      if (ct === 'application/problem+json' && body && body.request_id !== res.headers['x-request-id'])
        problems.push('problem request_id differs from X-Request-ID');
    }
  } else if (ct === 'text/event-stream') {
    const err = validateSse(res.body, template);
    if (err) problems.push(err);
  } else if (typeof r.content[ct].schema === 'object' && r.content[ct].schema.type === 'string') {
    if (!res.body.length) problems.push('empty text body');
  }
  return check(problems.length === 0, `${label} [${key} -> ${res.status}]`, problems.join('; '));
}

// Parse SSE frames; every data line must be a valid Event whose id/type match the frame.
function parseSse(text) {
  const frames = [];
  for (const block of text.split('\n\n')) {
    const f = { comments: 0 };
    for (const line of block.split('\n')) {
      if (line === '') continue;
      if (line.startsWith(':')) f.comments++;
      else if (line.startsWith('id: ')) f.id = line.slice(4);
      else if (line.startsWith('event: ')) f.event = line.slice(7);
      else if (line.startsWith('data: ')) f.data = (f.data ? f.data + '\n' : '') + line.slice(6);
      else if (line.startsWith('retry: ')) f.retry = Number(line.slice(7));
      else f.bad = line;
    }
    if (f.id || f.event || f.data || f.retry || f.bad) frames.push(f);
  }
  return frames;
}
function validateSse(text, template) {
  const frames = parseSse(text);
  const errs = [];
  let last = null;
  for (const f of frames) {
    if (f.bad) errs.push(`unknown SSE line ${JSON.stringify(f.bad)}`);
    if (f.retry !== undefined && f.data === undefined) continue;
    let ev;
    try {
      ev = JSON.parse(f.data);
    } catch {
      errs.push(`SSE data is not JSON: ${String(f.data).slice(0, 80)}`);
      continue;
    }
    const err = validateAgainst('/components/schemas/Event', ev);
    if (err) errs.push(`event ${ev.type} ${f.id}: ${err}`);
    if (ev.id !== f.id) errs.push(`frame id ${f.id} != data.id ${ev.id}`);
    if (ev.type !== f.event) errs.push(`frame event ${f.event} != data.type ${ev.type}`);
    if (last && cmpId(f.id, last) <= 0) errs.push(`ids not increasing: ${last} then ${f.id}`);
    last = f.id;
    seenEvents.set(ev.type, (seenEvents.get(ev.type) || 0) + 1);
  }
  void template;
  return errs.length ? errs.slice(0, 5).join('; ') : null;
}
function cmpId(a, b) {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  if ((as || 0n) !== (bs || 0n)) return (as || 0n) < (bs || 0n) ? -1 : 1;
  return 0;
}

// ------------------------------------------------------------------ processes and HTTP

const procs = [];
let logDir = null; // kept when a check failed, removed otherwise
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
function start(name, bin, args, env, logDir) {
  const log = fs.openSync(path.join(logDir, `${name}.log`), 'w');
  const p = spawn(bin, args, { env, stdio: ['ignore', log, log] });
  p.name = name;
  p.exited = false;
  p.on('exit', (code, signal) => {
    p.exited = true;
    p.code = code;
    p.sig = signal;
  });
  procs.push(p);
  return p;
}
async function stop(p) {
  if (!p || p.exited) return;
  p.kill('SIGTERM');
  for (let i = 0; i < 50 && !p.exited; i++) await sleep(100);
  if (!p.exited) p.kill('SIGKILL');
}
function stopAllSync() {
  for (const p of procs) if (!p.exited) try { p.kill('SIGKILL'); } catch { /* gone */ }
}
process.on('exit', stopAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopAllSync(); process.exit(130); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
let PORT = 0;
function request(method, urlPath, { headers = {}, body, timeoutMs = 15000, port } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const h = { ...headers };
    if (data) h['Content-Length'] = String(data.length);
    const req = http.request(
      { host: '127.0.0.1', port: port || PORT, method, path: urlPath, headers: h, agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    // An absolute deadline (SSE heartbeats would keep an idle timeout from firing).
    const deadline = setTimeout(() => req.destroy(new Error(`no complete answer within ${timeoutMs} ms: ${method} ${urlPath}`)), timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', (e) => { clearTimeout(deadline); reject(e); });
    if (data) req.write(data);
    req.end();
  });
}
// Read a response body for @ms milliseconds, then hang up; resolves with what arrived.
function collectFor(urlPath, headers, ms) {
  return new Promise((resolve) => {
    const chunks = [];
    let status = 0;
    let hdrs = {};
    const req = http.request({ host: '127.0.0.1', port: PORT, method: 'GET', path: urlPath, headers }, (res) => {
      status = res.statusCode;
      hdrs = res.headers;
      res.on('data', (c) => chunks.push(c));
      res.on('error', () => {});
    });
    req.on('error', () => {});
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve({ status, headers: hdrs, body: Buffer.concat(chunks).toString('utf8') });
    }, ms);
  });
}

async function waitFor(fn, ms, what) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// ------------------------------------------------------------------ the test

const KEY_A = 'contract-key-alpha-0123456789';
const KEY_B = 'contract-key-bravo-0123456789';
const KEY_C = 'contract-key-charlie-0123456789';
const KEY_D = 'contract-key-delta-0123456789';
const A = { Authorization: `Bearer ${KEY_A}` };
const B = { Authorization: `Bearer ${KEY_B}` };
const C = { Authorization: `Bearer ${KEY_C}` };
const D = { Authorization: `Bearer ${KEY_D}` };
const JSONH = { 'Content-Type': 'application/json' };
const S = '/api/v1/sessions';
const SID = `${S}/{id}`;
const MAX_BODY = 4096;
const CREATE_PER_MIN = 12;
const CONTROL_PER_MIN = 40;
const READS_PER_MIN = 400;
const MAX_ACTIVE = 3;

const body = (statement, options) => JSON.stringify({ problem: { statement }, ...(options ? { options } : {}) });

async function call(label, method, template, urlPath, opts) {
  let res;
  try {
    res = await request(method, urlPath, opts);
  } catch (e) {
    check(false, label, e.message);
    return { status: 0, headers: {}, body: '' };
  }
  validate(label, method, template, res);
  return res;
}
const json = (res) => {
  try {
    return JSON.parse(res.body);
  } catch {
    return {};
  }
};

async function getStatus(id, key = A) {
  const r = await request('GET', `${S}/${id}`, { headers: key });
  return json(r).status;
}
async function waitStatus(id, want, ms = 30000) {
  const wants = Array.isArray(want) ? want : [want];
  let seen;
  try {
    return await waitFor(async () => wants.includes((seen = await getStatus(id))), ms, `${id} ${wants.join('|')}`);
  } catch (e) {
    throw new Error(`${e.message} (last status ${seen})`);
  }
}

async function main() {
  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bo1-openapi-'));
  const [redisPort, fakePort, bo1Port] = [await freePort(), await freePort(), await freePort()];
  PORT = bo1Port;
  const redisArgs = ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', logDir, '--save', '',
    '--appendonly', 'no', '--maxmemory-policy', 'noeviction'];
  let redis = start('redis', 'redis-server', redisArgs, process.env, logDir);
  start('fake', path.join(buildDir, 'src/fake/bo1-fake-llm'), ['--port', String(fakePort), '--seed', '7'],
    process.env, logDir);
  const env = {
    PATH: process.env.PATH,
    PORT: String(bo1Port),
    REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
    BO1_ENV_FILE: '/nonexistent',
    BO1_DATA_DIR: path.join(ROOT, 'zzz_important'),
    BO1_EXPORTS_DIR: path.join(logDir, 'exports'),
    ANTHROPIC_BASE_URL: `http://127.0.0.1:${fakePort}`,
    ANTHROPIC_API_KEY: 'simulated',
    BO1_MODEL_SIMULATED: 'true',
    BO1_MODEL_DEEP: 'fake-deep',
    BO1_MODEL_FAST: 'fake-fast',
    BO1_API_KEYS: [KEY_A, KEY_B, KEY_C, KEY_D].join(','),
    BO1_MAX_BODY_BYTES: String(MAX_BODY),
    BO1_RATE_CREATE_PER_MIN: String(CREATE_PER_MIN),
    BO1_RATE_CONTROL_PER_MIN: String(CONTROL_PER_MIN),
    BO1_RATE_READS_PER_MIN: String(READS_PER_MIN),
    BO1_MAX_ACTIVE_SESSIONS: String(MAX_ACTIVE),
    BO1_LOG_LEVEL: process.env.BO1_CONTRACT_LOG_LEVEL || 'info',
  };
  const bo1d = start('bo1d', path.join(buildDir, 'bo1d'), [], env, logDir);
  await waitFor(async () => (await request('GET', '/ready')).status === 200, 15000, 'bo1d /ready');
  console.log(`# bo1d on ${bo1Port}, redis on ${redisPort}, fake on ${fakePort}, logs in ${logDir}`);

  // --- probes
  await call('health', 'GET', '/health', '/health');
  await call('health wrong method', 'POST', '/health', '/health', { headers: JSONH, body: '{}' });
  await call('ready', 'GET', '/ready', '/ready');
  await call('ready wrong method', 'PUT', '/ready', '/ready');
  await call('metrics', 'GET', '/metrics', '/metrics');
  await call('metrics wrong method', 'DELETE', '/metrics', '/metrics');
  {
    const r = await request('GET', '/health', { headers: { 'X-Request-ID': 'contract-rid-1' } });
    check(r.headers['x-request-id'] === 'contract-rid-1', 'X-Request-ID is echoed', r.headers['x-request-id']);
  }

  // --- personas
  const pl = await call('personas', 'GET', '/api/v1/personas', '/api/v1/personas', { headers: A });
  await call('personas without key', 'GET', '/api/v1/personas', '/api/v1/personas');
  await call('personas bad key', 'GET', '/api/v1/personas', '/api/v1/personas', { headers: { Authorization: 'Bearer nope' } });
  await call('personas wrong method', 'POST', '/api/v1/personas', '/api/v1/personas', { headers: { ...A, ...JSONH }, body: '{}' });
  const code = (json(pl).items || [{}])[0].code || 'cfo';
  await call('persona', 'GET', '/api/v1/personas/{code}', `/api/v1/personas/${code}`, { headers: A });
  await call('persona unknown', 'GET', '/api/v1/personas/{code}', '/api/v1/personas/no_such_persona', { headers: A });
  await call('persona hidden role', 'GET', '/api/v1/personas/{code}', '/api/v1/personas/facilitator', { headers: A });
  await call('persona without key', 'GET', '/api/v1/personas/{code}', `/api/v1/personas/${code}`);
  await call('persona wrong method', 'DELETE', '/api/v1/personas/{code}', `/api/v1/personas/${code}`, { headers: A });

  // --- create: success and every error
  const held = await call('create (start:false)', 'POST', S, S,
    { headers: { ...A, ...JSONH }, body: body('Should we move the office to a cheaper district?', { start: false }) });
  const heldId = json(held).id;
  check(held.headers.location === `${S}/${heldId}`, 'create: Location names the session', held.headers.location);
  await call('create bad JSON', 'POST', S, S, { headers: { ...A, ...JSONH }, body: '{"problem": ' });
  await call('create JSON not an object', 'POST', S, S, { headers: { ...A, ...JSONH }, body: '[1,2]' });
  await call('create empty body', 'POST', S, S, { headers: { ...A, ...JSONH }, body: '' });
  const bf = await call('create invalid fields', 'POST', S, S, { headers: { ...A, ...JSONH },
    body: JSON.stringify({ problem: { statement: 'short', colour: 1 }, options: { max_rounds: 99, personas: ['nobody_here'] } }) });
  {
    const fields = (json(bf).errors || []).map((e) => e.field);
    check(['problem.statement', 'problem.colour', 'options.max_rounds', 'options.personas[0]'].every((f) => fields.includes(f)),
      'create 400 names every bad field', fields.join(','));
  }
  await call('create unknown top-level field', 'POST', S, S, { headers: { ...A, ...JSONH },
    body: JSON.stringify({ problem: { statement: 'Should we open a second office?' }, extra: true }) });
  await call('create bad Idempotency-Key', 'POST', S, S, { headers: { ...A, ...JSONH, 'Idempotency-Key': 'x'.repeat(300) },
    body: body('Should we open a second office in Lisbon?') });
  await call('create without key', 'POST', S, S, { headers: JSONH, body: body('Should we open a second office?') });
  await call('create wrong key', 'POST', S, S, { headers: { Authorization: 'Bearer wrong', ...JSONH }, body: body('Should we open a second office?') });
  await call('create too large', 'POST', S, S, { headers: { ...A, ...JSONH }, body: body('x'.repeat(MAX_BODY + 100)) });
  await call('create not JSON', 'POST', S, S, { headers: { ...A, 'Content-Type': 'text/plain' }, body: body('Should we open a second office?') });
  await call('create no Content-Type', 'POST', S, S, { headers: A, body: Buffer.from(body('Should we open a second office?')) });
  await call('sessions wrong method', 'PUT', S, S, { headers: { ...A, ...JSONH }, body: '{}' });
  {
    const r1 = await call('list with a request target over the limit', 'GET', S, `${S}?cursor=${'c'.repeat(5000)}`, { headers: A });
    check(r1.status === 414 && json(r1).code === 'URI_TOO_LONG', 'a target over 4096 bytes gives 414 URI_TOO_LONG', String(r1.status));
    const r2 = await call('health with a request target over the limit', 'GET', '/health', `/health?x=${'c'.repeat(5000)}`);
    check(r2.status === 414, 'a probe with a target over the limit gives 414', String(r2.status));
    const r3 = await call('list with headers over the limit', 'GET', S, S, { headers: { ...A, 'X-Padding': 'p'.repeat(9000) } });
    check(r3.status === 431 && json(r3).code === 'HEADERS_TOO_LARGE', 'headers over 8192 bytes give 431 HEADERS_TOO_LARGE', String(r3.status));
  }

  // idempotency: same key + same body -> same session; other body -> 422
  const idemBody = body('Should we replace our CRM this quarter?', { start: false, clarify: false });
  const i1 = await call('create with Idempotency-Key', 'POST', S, S, { headers: { ...A, ...JSONH, 'Idempotency-Key': 'contract-idem-1' }, body: idemBody });
  const i2 = await call('create replayed', 'POST', S, S, { headers: { ...A, ...JSONH, 'Idempotency-Key': 'contract-idem-1' }, body: idemBody });
  check(json(i1).id && json(i1).id === json(i2).id && i2.headers['idempotent-replayed'] === 'true',
    'idempotent replay returns the same session', `${json(i1).id} ${json(i2).id} ${i2.headers['idempotent-replayed']}`);
  {
    // Long keys that share their first 64 characters are different keys.
    const k1 = `${'k'.repeat(64)}-one`;
    const k2 = `${'k'.repeat(64)}-two`;
    const r1 = await call('create with a long Idempotency-Key', 'POST', S, S, { headers: { ...A, ...JSONH, 'Idempotency-Key': k1 },
      body: body('Should we repaint the shop front green?', { start: false }) });
    const r2 = await call('create with another long Idempotency-Key', 'POST', S, S, { headers: { ...A, ...JSONH, 'Idempotency-Key': k2 },
      body: body('Should we repaint the shop front blue?', { start: false }) });
    check(r1.status === 201 && r2.status === 201 && json(r1).id !== json(r2).id, 'idempotency keys differing after 64 characters do not collide',
      `${r1.status} ${r2.status}`);
  }
  await call('create idempotency mismatch', 'POST', S, S, { headers: { ...A, ...JSONH, 'Idempotency-Key': 'contract-idem-1' },
    body: body('Should we replace our ERP this quarter?', { start: false }) });

  // --- list
  await call('list', 'GET', S, S, { headers: A });
  const p1 = await call('list page 1', 'GET', S, `${S}?limit=1`, { headers: A });
  const cur = json(p1).next_cursor;
  const p2 = await call('list page 2', 'GET', S, `${S}?limit=1&cursor=${encodeURIComponent(cur || '')}`, { headers: A });
  check(json(p1).items?.[0]?.id && json(p2).items?.[0]?.id && json(p1).items[0].id !== json(p2).items[0].id,
    'list pagination moves on', `${json(p1).items?.[0]?.id} ${json(p2).items?.[0]?.id}`);
  await call('list by status', 'GET', S, `${S}?status=created`, { headers: A });
  await call('list bad status', 'GET', S, `${S}?status=sleeping`, { headers: A });
  await call('list bad limit', 'GET', S, `${S}?limit=0`, { headers: A });
  await call('list bad cursor', 'GET', S, `${S}?cursor=abc`, { headers: A });
  await call('list without key', 'GET', S, S);
  {
    const other = await request('GET', S, { headers: B });
    check(!(json(other).items || []).some((s) => s.id === heldId), "key B does not list key A's sessions");
  }

  // An idle stream gets a comment heartbeat every 15 s (collected while the rest runs).
  const quiet = json(await request('POST', S, { headers: { ...B, ...JSONH }, body: body('Should we keep the shop open in August?', { start: false }) })).id;
  const heartbeat = collectFor(`${S}/${quiet}/events`, { ...B, Accept: 'text/event-stream' }, 18000);

  // OPTIONS and HEAD, described once in the document: 204 with Allow; HEAD as GET without a body.
  for (const [template, u] of [['/health', '/health'], [S, S], [SID, `${S}/${heldId}`], [`${SID}/events`, `${S}/${heldId}/events`]]) {
    const r = await request('OPTIONS', u);
    const methods = Object.keys(spec.paths[template]).filter((m) => m !== 'parameters').map((m) => m.toUpperCase());
    if (methods.includes('GET')) methods.push('HEAD');
    methods.push('OPTIONS');
    const allow = (r.headers.allow || '').split(',').map((m) => m.trim()).sort().join(',');
    check(r.status === 204 && allow === methods.sort().join(',') && r.headers['x-request-id'],
      `OPTIONS ${template}: 204 with Allow`, `${r.status} ${r.headers.allow}`);
  }
  {
    const r = await request('HEAD', `${S}/${heldId}`, { headers: A });
    check(r.status === 200 && r.body === '' && (r.headers['content-type'] || '').startsWith('application/json'),
      'HEAD on a GET route: 200, no body', `${r.status} ${r.body.length}`);
  }

  // --- get / costs / report / events on a session that has not run
  await call('get', 'GET', SID, `${S}/${heldId}`, { headers: A });
  await call('get other key', 'GET', SID, `${S}/${heldId}`, { headers: B });
  await call('get unknown', 'GET', SID, `${S}/AAAAAAAAAAAAAAAAAAAAAA`, { headers: A });
  await call('get malformed id', 'GET', SID, `${S}/not-an-id`, { headers: A });
  await call('get without key', 'GET', SID, `${S}/${heldId}`);
  await call('session wrong method', 'PUT', SID, `${S}/${heldId}`, { headers: { ...A, ...JSONH }, body: '{}' });
  await call('costs before running', 'GET', `${SID}/costs`, `${S}/${heldId}/costs`, { headers: A });
  await call('costs other key', 'GET', `${SID}/costs`, `${S}/${heldId}/costs`, { headers: B });
  await call('costs without key', 'GET', `${SID}/costs`, `${S}/${heldId}/costs`);
  await call('costs wrong method', 'POST', `${SID}/costs`, `${S}/${heldId}/costs`, { headers: A });
  await call('report before finishing', 'GET', `${SID}/report`, `${S}/${heldId}/report`, { headers: A });
  await call('report bad format', 'GET', `${SID}/report`, `${S}/${heldId}/report?format=pdf`, { headers: A });
  await call('report other key', 'GET', `${SID}/report`, `${S}/${heldId}/report`, { headers: B });
  await call('report without key', 'GET', `${SID}/report`, `${S}/${heldId}/report`);
  await call('report wrong method', 'DELETE', `${SID}/report`, `${S}/${heldId}/report`, { headers: A });
  await call('events page', 'GET', `${SID}/events`, `${S}/${heldId}/events`, { headers: A });
  await call('events bad after', 'GET', `${SID}/events`, `${S}/${heldId}/events?after=yesterday`, { headers: A });
  await call('events bad limit', 'GET', `${SID}/events`, `${S}/${heldId}/events?limit=5000`, { headers: A });
  await call('events other key', 'GET', `${SID}/events`, `${S}/${heldId}/events`, { headers: B });
  await call('events without key', 'GET', `${SID}/events`, `${S}/${heldId}/events`);
  await call('events wrong method', 'POST', `${SID}/events`, `${S}/${heldId}/events`, { headers: A });
  await call('SSE bad Last-Event-ID', 'GET', `${SID}/events`, `${S}/${heldId}/events`,
    { headers: { ...A, Accept: 'text/event-stream', 'Last-Event-ID': 'nope' } });
  await call('SSE other key', 'GET', `${SID}/events`, `${S}/${heldId}/events`, { headers: { ...B, Accept: 'text/event-stream' } });
  await call('SSE without key', 'GET', `${SID}/events`, `${S}/${heldId}/events`, { headers: { Accept: 'text/event-stream' } });

  // --- lifecycle errors on a created session
  for (const a of ['pause', 'resume']) {
    await call(`${a} while created`, 'POST', `${SID}/${a}`, `${S}/${heldId}/${a}`, { headers: A });
  }
  await call('answers while created', 'POST', `${SID}/answers`, `${S}/${heldId}/answers`,
    { headers: { ...A, ...JSONH }, body: JSON.stringify({ skip: true }) });
  for (const a of ['start', 'pause', 'resume', 'cancel']) {
    await call(`${a} other key`, 'POST', `${SID}/${a}`, `${S}/${heldId}/${a}`, { headers: B });
    await call(`${a} without key`, 'POST', `${SID}/${a}`, `${S}/${heldId}/${a}`);
    await call(`${a} wrong method`, 'GET', `${SID}/${a}`, `${S}/${heldId}/${a}`, { headers: A });
  }
  for (const a of ['answers', 'interjections']) {
    const t = `${SID}/${a}`;
    const u = `${S}/${heldId}/${a}`;
    await call(`${a} bad JSON`, 'POST', t, u, { headers: { ...A, ...JSONH }, body: '{' });
    await call(`${a} unknown field`, 'POST', t, u, { headers: { ...A, ...JSONH }, body: '{"colour":1}' });
    await call(`${a} not JSON`, 'POST', t, u, { headers: { ...A, 'Content-Type': 'text/plain' }, body: 'hello' });
    await call(`${a} too large`, 'POST', t, u, { headers: { ...A, ...JSONH }, body: JSON.stringify({ text: 'y'.repeat(MAX_BODY) }) });
    await call(`${a} other key`, 'POST', t, u, { headers: { ...B, ...JSONH },
      body: a === 'answers' ? '{"skip":true}' : '{"text":"hello board"}' });
    await call(`${a} without key`, 'POST', t, u, { headers: JSONH, body: '{}' });
    await call(`${a} wrong method`, 'GET', t, u, { headers: A });
  }
  await call('answers neither answers nor skip', 'POST', `${SID}/answers`, `${S}/${heldId}/answers`, { headers: { ...A, ...JSONH }, body: '{}' });
  await call('interjection empty text', 'POST', `${SID}/interjections`, `${S}/${heldId}/interjections`, { headers: { ...A, ...JSONH }, body: '{"text":"   "}' });
  await call('interjection while created', 'POST', `${SID}/interjections`, `${S}/${heldId}/interjections`,
    { headers: { ...A, ...JSONH }, body: '{"text":"Keep the commute in mind."}' });

  // --- a full deliberation, followed live over SSE from the start
  const fullStatement = 'Should we expand our bakery chain to a second city this year? [fake:clarify=1] [fake:moderator=2]';
  const created = await call('create and start', 'POST', S, S, { headers: { ...A, ...JSONH }, body: body(fullStatement) });
  const id = json(created).id;
  const ssePromise = request('GET', `${S}/${id}/events`, { headers: { ...A, Accept: 'text/event-stream' }, timeoutMs: 90000 })
    .catch((e) => ({ status: 0, headers: {}, body: '', error: e.message }));
  await waitStatus(id, 'awaiting_input');
  await call('start while awaiting input', 'POST', `${SID}/start`, `${S}/${id}/start`, { headers: A });
  await call('pause while awaiting input', 'POST', `${SID}/pause`, `${S}/${id}/pause`, { headers: A });
  await call('pause twice', 'POST', `${SID}/pause`, `${S}/${id}/pause`, { headers: A });
  await call('resume', 'POST', `${SID}/resume`, `${S}/${id}/resume`, { headers: A });
  await waitStatus(id, 'awaiting_input');
  const sess = json(await request('GET', `${S}/${id}`, { headers: A }));
  const answers = {};
  for (const q of sess.clarify?.pending || []) answers[q.id] = 'About two million euros, and we can wait a year.';
  await call('interjection', 'POST', `${SID}/interjections`, `${S}/${id}/interjections`,
    { headers: { ...A, ...JSONH }, body: JSON.stringify({ text: 'Please weigh the hiring market in the second city.' }) });
  await call('answers', 'POST', `${SID}/answers`, `${S}/${id}/answers`,
    { headers: { ...A, ...JSONH }, body: JSON.stringify({ answers }) });
  const sse = await ssePromise;
  if (sse.error) check(false, 'SSE live from the start', sse.error);
  else validate('SSE live from the start', 'GET', `${SID}/events`, sse);
  check(sse.headers['cache-control'] === 'no-cache' && sse.headers['x-accel-buffering'] === 'no',
    'SSE headers: Cache-Control no-cache, X-Accel-Buffering no', JSON.stringify(sse.headers));
  const frames = parseSse(sse.body || '').filter((f) => f.data);
  const lastFrame = frames[frames.length - 1] || {};
  check(lastFrame.event === 'session.completed', 'SSE stream ends with session.completed', lastFrame.event);
  await waitStatus(id, ['completed', 'failed']);
  check((await getStatus(id)) === 'completed', 'the deliberation completed');

  // the JSON log equals the SSE stream; a replay from the middle equals the tail
  const page = await call('events page (all)', 'GET', `${SID}/events`, `${S}/${id}/events?limit=1000`, { headers: A });
  for (const ev of json(page).events || []) {
    // page events were validated by the page schema; count their types too
    seenEvents.set(ev.type, (seenEvents.get(ev.type) || 0));
  }
  const logIds = (json(page).events || []).map((e) => e.id);
  check(JSON.stringify(logIds) === JSON.stringify(frames.map((f) => f.id)), 'SSE ids equal the JSON log ids',
    `${logIds.length} vs ${frames.length}`);
  const mid = logIds[Math.floor(logIds.length / 2)];
  const replay = await call('SSE replay from Last-Event-ID', 'GET', `${SID}/events`, `${S}/${id}/events`,
    { headers: { ...A, Accept: 'text/event-stream', 'Last-Event-ID': mid } });
  const tail = parseSse(replay.body).filter((f) => f.data).map((f) => f.id);
  check(JSON.stringify(tail) === JSON.stringify(logIds.slice(logIds.indexOf(mid) + 1)), 'replay equals the tail of the log',
    `${tail.length} vs ${logIds.length - logIds.indexOf(mid) - 1}`);
  const replayQ = await call('SSE replay from ?after=', 'GET', `${SID}/events`, `${S}/${id}/events?after=${mid}`,
    { headers: { ...A, Accept: 'text/event-stream' } });
  check(parseSse(replayQ.body).filter((f) => f.data).length === tail.length, '?after= replays the same tail');
  const pg = await call('events page after, limit 3', 'GET', `${SID}/events`, `${S}/${id}/events?after=${logIds[0]}&limit=3`, { headers: A });
  check(json(pg).events?.length === 3 && json(pg).has_more === true && json(pg).events[0].id === logIds[1],
    'events page: after/limit/has_more', pg.body.slice(0, 120));

  await call('report (JSON)', 'GET', `${SID}/report`, `${S}/${id}/report`, { headers: A });
  await call('report (?format=md)', 'GET', `${SID}/report`, `${S}/${id}/report?format=md`, { headers: A });
  await call('report (Accept: text/markdown)', 'GET', `${SID}/report`, `${S}/${id}/report`, { headers: { ...A, Accept: 'text/markdown' } });
  const costs = await call('costs', 'GET', `${SID}/costs`, `${S}/${id}/costs`, { headers: A });
  check(Array.isArray(json(costs).ledger) && json(costs).ledger.length === json(costs).costs?.calls,
    'costs: one ledger entry per call', `${json(costs).ledger?.length} vs ${json(costs).costs?.calls}`);
  {
    // Nothing lost from the event log: one cost.updated per model call, and the end.
    const evs = json(page).events || [];
    const nCost = evs.filter((e) => e.type === 'cost.updated').length;
    check(nCost === json(costs).costs?.calls, 'event log: one cost.updated per model call', `${nCost} vs ${json(costs).costs?.calls}`);
    check(evs.length && evs[evs.length - 1].type === 'session.completed', 'event log ends with session.completed',
      evs.length ? evs[evs.length - 1].type : 'empty');
  }
  await call('get completed', 'GET', SID, `${S}/${id}`, { headers: A });
  for (const a of ['start', 'pause', 'resume', 'cancel']) {
    await call(`${a} when completed`, 'POST', `${SID}/${a}`, `${S}/${id}/${a}`, { headers: A });
  }
  await call('interjection when completed', 'POST', `${SID}/interjections`, `${S}/${id}/interjections`,
    { headers: { ...A, ...JSONH }, body: '{"text":"Too late?"}' });
  await call('answers when completed', 'POST', `${SID}/answers`, `${S}/${id}/answers`,
    { headers: { ...A, ...JSONH }, body: '{"skip":true}' });

  // --- start, then cancel; the cancelled stream ends too
  await call('start', 'POST', `${SID}/start`, `${S}/${heldId}/start`, { headers: A });
  await call('cancel', 'POST', `${SID}/cancel`, `${S}/${heldId}/cancel`, { headers: A });
  const cs = await call('SSE of a cancelled session', 'GET', `${SID}/events`, `${S}/${heldId}/events`,
    { headers: { ...A, Accept: 'text/event-stream' }, timeoutMs: 20000 });
  check(parseSse(cs.body).filter((f) => f.data).pop()?.event === 'session.completed', 'cancelled stream ends with session.completed');

  // --- a session whose model provider fails: it ends failed, and its stream ends
  {
    const r = await call('create (to fail)', 'POST', S, S, { headers: { ...A, ...JSONH },
      body: body('Should we sign the three-year lease for the warehouse?', { start: false, clarify: false }) });
    const fid = json(r).id;
    const fr = await request('POST', '/_fake/faults', { port: fakePort, headers: JSONH,
      body: JSON.stringify({ session: fid, error: 'spend_limit' }) });
    check(fr.status === 200, 'fake accepts the fault rule', fr.body.slice(0, 200));
    await call('start (to fail)', 'POST', `${SID}/start`, `${S}/${fid}/start`, { headers: A });
    const fs_ = await call('SSE of a failing session', 'GET', `${SID}/events`, `${S}/${fid}/events`,
      { headers: { ...A, Accept: 'text/event-stream' }, timeoutMs: 60000 });
    const last = parseSse(fs_.body).filter((f) => f.data).pop();
    check(last?.event === 'session.completed' && JSON.parse(last.data).data.status === 'failed',
      'failed stream ends with session.completed {status: failed}', last?.data?.slice(0, 200));
    await call('report of a failed session', 'GET', `${SID}/report`, `${S}/${fid}/report`, { headers: A });
  }

  // --- a session whose provider rate limits it past the gateway's retries: it waits
  // (provider.unavailable), asks again and completes (provider.recovered)
  {
    const r = await call('create (rate limited)', 'POST', S, S, { headers: { ...A, ...JSONH },
      body: body('Should we renew the delivery van lease for another year?', { start: false, clarify: false }) });
    const rid = json(r).id;
    const fr = await request('POST', '/_fake/faults', { port: fakePort, headers: JSONH,
      body: JSON.stringify({ session: rid, task: 'decompose', error: '429', count: 5, retry_after_ms: 20 }) });
    check(fr.status === 200, 'fake accepts the rate-limit rule', fr.body.slice(0, 200));
    await call('start (rate limited)', 'POST', `${SID}/start`, `${S}/${rid}/start`, { headers: A });
    const rs = await call('SSE of a session that waits for its provider', 'GET', `${SID}/events`,
      `${S}/${rid}/events`, { headers: { ...A, Accept: 'text/event-stream' }, timeoutMs: 90000 });
    const types = parseSse(rs.body).filter((f) => f.data).map((f) => f.event);
    check(types.includes('provider.unavailable') &&
      types.indexOf('provider.recovered') > types.indexOf('provider.unavailable'),
      'a rate-limited session publishes provider.unavailable, then provider.recovered', types.join(','));
    const last = parseSse(rs.body).filter((f) => f.data).pop();
    check(last?.event === 'session.completed' && JSON.parse(last.data).data.status === 'completed',
      'the rate-limited session completes', last?.data?.slice(0, 200));
  }

  // --- a burst of events while Redis holds writes: nothing may be lost from the log
  {
    const r = await request('POST', S, { headers: { ...A, ...JSONH },
      body: body('Should we open a bakery school next to the new shop? [fake:subproblems=3]', { start: false, clarify: false }) });
    const bid = json(r).id;
    await request('POST', '/_fake/faults', { port: fakePort, headers: JSONH, body: JSON.stringify({ session: bid, latency_ms: 40 }) });
    await request('POST', `${S}/${bid}/start`, { headers: A });
    await waitStatus(bid, 'running');
    const pause = spawn('redis-cli', ['-p', String(redisPort), 'CLIENT', 'PAUSE', '2500', 'WRITE'], { stdio: 'ignore' });
    await new Promise((res) => pause.on('exit', res));
    await waitStatus(bid, ['completed', 'failed'], 60000);
    const evs = json(await request('GET', `${S}/${bid}/events?limit=1000`, { headers: A })).events || [];
    const calls = json(await request('GET', `${S}/${bid}/costs`, { headers: A })).costs?.calls;
    const nCost = evs.filter((e) => e.type === 'cost.updated').length;
    check(nCost === calls && calls > 0, 'burst: one cost.updated per model call', `${nCost} events vs ${calls} calls, ${evs.length} events`);
    check(evs.length && evs[evs.length - 1].type === 'session.completed', 'burst: the log ends with session.completed',
      evs.length ? evs[evs.length - 1].type : 'empty');
    // DELETE removes every key of the session, the stored report included.
    await call('delete a completed session', 'DELETE', SID, `${S}/${bid}`, { headers: A });
    const left = await new Promise((res) => {
      const p = spawn('redis-cli', ['-p', String(redisPort), '--scan', '--pattern', `bo1:{${bid}}:*`]);
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.on('exit', () => res(out.trim()));
    });
    check(left === '', 'delete leaves no key of the session behind', left);
  }

  // --- delete
  await call('delete', 'DELETE', SID, `${S}/${heldId}`, { headers: A });
  await call('get after delete', 'GET', SID, `${S}/${heldId}`, { headers: A });
  await call('delete again', 'DELETE', SID, `${S}/${heldId}`, { headers: A });
  await call('delete other key', 'DELETE', SID, `${S}/${id}`, { headers: B });
  await call('delete without key', 'DELETE', SID, `${S}/${id}`);

  // --- 429: the cap on active sessions (key D), then each rate limit (key C)
  {
    const ids = [];
    for (let i = 0; i < MAX_ACTIVE; i++) {
      const r = await request('POST', S, { headers: { ...D, ...JSONH }, body: body(`Should we hire designer number ${i + 1}? [fake:clarify=1]`) });
      ids.push(json(r).id);
    }
    const r = await call('create over the active cap', 'POST', S, S, { headers: { ...D, ...JSONH }, body: body('Should we hire one more designer?') });
    check(r.status === 429 && json(r).code === 'RATE_LIMITED', 'active cap gives 429', r.body.slice(0, 160));
    const held2 = json(await request('POST', S, { headers: { ...D, ...JSONH }, body: body('Should we hire a held designer?', { start: false }) })).id;
    await call('start over the active cap', 'POST', `${SID}/start`, `${S}/${held2}/start`, { headers: D });
    for (const x of ids) await request('POST', `${S}/${x}/cancel`, { headers: D });
  }
  {
    let last;
    for (let i = 0; i <= CREATE_PER_MIN; i++) {
      last = await request('POST', S, { headers: { ...C, ...JSONH }, body: body(`Should we print flyers, batch ${i}?`, { start: false }) });
      if (last.status === 429) break;
    }
    validate('create over the rate limit', 'POST', S, last);
    check(last.status === 429, 'create rate limit gives 429 with Retry-After', `${last.status} ${last.headers['retry-after']}`);
    const own = json(await request('GET', `${S}?limit=1`, { headers: C })).items?.[0]?.id;
    for (let i = 0; i <= CONTROL_PER_MIN; i++) {
      last = await request('POST', `${S}/${own}/resume`, { headers: C });
      if (last.status === 429) break;
    }
    validate('control over the rate limit', 'POST', `${SID}/resume`, last);
    check(last.status === 429, 'control rate limit gives 429', String(last.status));
    last = await request('POST', `${S}/${own}/interjections`, { headers: { ...C, ...JSONH }, body: '{"text":"one more"}' });
    validate('interjection over the rate limit', 'POST', `${SID}/interjections`, last);
    last = await request('POST', `${S}/${own}/answers`, { headers: { ...C, ...JSONH }, body: '{"skip":true}' });
    validate('answers over the rate limit', 'POST', `${SID}/answers`, last);
    for (const a of ['start', 'pause', 'cancel']) {
      await call(`${a} over the rate limit`, 'POST', `${SID}/${a}`, `${S}/${own}/${a}`, { headers: C });
    }
    await call('delete over the rate limit', 'DELETE', SID, `${S}/${own}`, { headers: C });
    for (let i = 0; i <= READS_PER_MIN; i++) {
      last = await request('GET', S, { headers: C });
      if (last.status === 429) break;
    }
    validate('list over the rate limit', 'GET', S, last);
    check(last.status === 429, 'read rate limit gives 429', String(last.status));
    await call('get over the rate limit', 'GET', SID, `${S}/${own}`, { headers: C });
    await call('events over the rate limit', 'GET', `${SID}/events`, `${S}/${own}/events`, { headers: C });
    await call('report over the rate limit', 'GET', `${SID}/report`, `${S}/${own}/report`, { headers: C });
    await call('costs over the rate limit', 'GET', `${SID}/costs`, `${S}/${own}/costs`, { headers: C });
  }

  // (before Redis goes away: the restarted Redis is empty, which ends the stream)
  {
    const hb = await heartbeat;
    check(hb.status === 200 && /^: heartbeat$/m.test(hb.body),
      'idle SSE stream: a comment heartbeat within 18 s', `${hb.status} ${JSON.stringify(hb.body.slice(-80))}`);
    const err = validateSse(hb.body.split('\n\n').filter((b) => !b.startsWith(':')).join('\n\n'), `${SID}/events`);
    check(!err, 'idle SSE stream: its events validate', err);
  }

  // --- 503: Redis goes away
  await stop(redis);
  await waitFor(async () => (await request('GET', '/ready')).status === 503, 15000, '/ready 503');
  await call('ready without Redis', 'GET', '/ready', '/ready');
  await call('create without Redis', 'POST', S, S, { headers: { ...A, ...JSONH }, body: body('Should we open on Sundays as well?') });
  await call('list without Redis', 'GET', S, S, { headers: A });
  await call('get without Redis', 'GET', SID, `${S}/${id}`, { headers: A });
  await call('delete without Redis', 'DELETE', SID, `${S}/${id}`, { headers: A });
  for (const a of ['start', 'pause', 'resume', 'cancel'])
    await call(`${a} without Redis`, 'POST', `${SID}/${a}`, `${S}/${id}/${a}`, { headers: A });
  await call('answers without Redis', 'POST', `${SID}/answers`, `${S}/${id}/answers`, { headers: { ...A, ...JSONH }, body: '{"skip":true}' });
  await call('interjection without Redis', 'POST', `${SID}/interjections`, `${S}/${id}/interjections`, { headers: { ...A, ...JSONH }, body: '{"text":"hello"}' });
  await call('events without Redis', 'GET', `${SID}/events`, `${S}/${id}/events`, { headers: A });
  await call('SSE without Redis', 'GET', `${SID}/events`, `${S}/${id}/events`, { headers: { ...A, Accept: 'text/event-stream' } });
  await call('report without Redis', 'GET', `${SID}/report`, `${S}/${id}/report`, { headers: A });
  await call('costs without Redis', 'GET', `${SID}/costs`, `${S}/${id}/costs`, { headers: A });
  await call('health without Redis', 'GET', '/health', '/health');
  redis = start('redis2', 'redis-server', redisArgs, process.env, logDir);
  await waitFor(async () => (await request('GET', '/ready')).status === 200, 20000, '/ready 200 again');
  await call('ready after Redis is back', 'GET', '/ready', '/ready');

  // --- coverage: every operation answered with a success status, every event type seen
  for (const [p, item] of Object.entries(spec.paths)) {
    for (const [m, op] of Object.entries(item)) {
      if (m === 'parameters') continue;
      const seen = seenStatus.get(`${m.toUpperCase()} ${p}`) || new Set();
      const documented = Object.keys(op.responses);
      const ok2xx = [...seen].some((s) => s.startsWith('2'));
      check(ok2xx, `coverage: ${m.toUpperCase()} ${p} answered with success`);
      const missing = documented.filter((s) => !seen.has(s));
      if (missing.length) console.log(`# not provoked: ${m.toUpperCase()} ${p} ${missing.join(' ')}`);
    }
  }
  const mapping = spec.components.schemas.Event.discriminator.mapping;
  const unseen = Object.keys(mapping).filter((t) => !seenEvents.has(t));
  const undocumented = [...seenEvents.keys()].filter((t) => !mapping[t]);
  check(undocumented.length === 0, 'every event type seen is documented', undocumented.join(','));
  console.log(`# event types seen over SSE: ${[...seenEvents.entries()].map(([t, n]) => `${t}=${n}`).join(' ')}`);
  if (unseen.length) console.log(`# event types not produced in this run: ${unseen.join(' ')}`);
  check(!bo1d.exited, 'bo1d still running at the end');
  await stop(bo1d);
  // Under ASan/UBSan (abort_on_error) a leak or an error found at exit fails this.
  check(bo1d.code === 0, 'bo1d exits 0 after SIGTERM', `code ${bo1d.code} signal ${bo1d.sig}`);
  for (const p of procs) await stop(p);
}

main()
  .catch((e) => {
    check(false, 'contract run', e.stack || String(e));
  })
  .finally(async () => {
    for (const p of procs) await stop(p);
    agent.destroy();
    if (logDir && failed === 0) fs.rmSync(logDir, { recursive: true, force: true });
    else if (logDir) console.log(`# logs kept in ${logDir}`);
    console.log(`openapi-contract: ${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  });
