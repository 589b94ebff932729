// End to end: the official `openai` SDK (as application developers use it) against a real
// Tollgate process and the real mock upstream process, over loopback sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const TOLLGATE = process.env.TOLLGATE_BINARY;
const MOCK = process.env.MOCK_UPSTREAM_BINARY;
const children = [];
const output = new Map();  // child -> everything it wrote to stdout and stderr
let dir;
let baseURL;
let adminURL;
let mockURL;
const keys = {};
// The mock provider's API key: the gateway must send it upstream and never show it anywhere.
const PROVIDER_SECRET = 'sk-e2e-' + randomBytes(18).toString('hex');

// Starts a process and resolves with the first stdout/stderr line matching `pattern`.
function start(argv, pattern, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env } });
    children.push(child);
    output.set(child, '');
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${argv[0]} did not start:\n${seen}`)), 30000);
    const onData = (chunk) => {
      seen += chunk.toString();
      output.set(child, output.get(child) + chunk.toString());
      const m = seen.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${argv[0]} exited with ${code}:\n${seen}`)));
  });
}

// A fresh key through `tollgate keygen`, returned with its YAML entry.
function keygen(tenant, name) {
  const out = execFileSync(TOLLGATE, ['keygen', '--tenant', tenant, '--name', name]).toString();
  const [key, , ...entry] = out.split('\n');
  return { key, entry: entry.filter(Boolean).map((l) => '      ' + l).join('\n') + '\n' };
}

function client(key, options = {}) {
  return new OpenAI({ apiKey: key, baseURL, maxRetries: 0, timeout: 20000, ...options });
}

before(async () => {
  assert.ok(TOLLGATE && MOCK, 'TOLLGATE_BINARY and MOCK_UPSTREAM_BINARY must be set (ctest sets them)');
  dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-'));
  const [, mockPort] = await start([MOCK, '--listen', '127.0.0.1:0'], /listening 127\.0\.0\.1:(\d+)/);
  mockURL = `http://127.0.0.1:${mockPort}`;
  for (const [tenant, name] of [['acme', 'prod'], ['basic', 'prod'], ['frozen', 'prod'], ['single', 'prod'], ['broke', 'prod']]) keys[tenant] = keygen(tenant, name);
  writeFileSync(join(dir, 'tollgate.yaml'), `
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
threads: 2
limits: {local: {state_dir: state}}
usage: {file: {path: usage.jsonl}}
providers:
  mock: {base_url: "http://127.0.0.1:${mockPort}/v1", api_key_env: E2E_PROVIDER_KEY}
models:
  gpt-4o: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00}
  gpt-4o-mini: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}
  text-embedding-3-small: {provider: mock, input_usd_per_mtok: 0.02, output_usd_per_mtok: 0}
tenants: tenants.yaml
`);
  writeFileSync(join(dir, 'tenants.yaml'), `
plans:
  open: {}
  basic: {models: [gpt-4o-mini]}
  single: {max_concurrent: 1, requests_per_minute: 1000, tokens_per_minute: 1000000}
  broke: {budget_usd: {daily: 0.000001}}
tenants:
  acme:
    plan: open
    keys:
${keys.acme.entry}  basic:
    plan: basic
    keys:
${keys.basic.entry}  frozen:
    plan: open
    status: suspended
    keys:
${keys.frozen.entry}  single:
    plan: single
    keys:
${keys.single.entry}  broke:
    plan: broke
    keys:
${keys.broke.entry}`);
  const [, port, adminPort] = await start([TOLLGATE, '--config', join(dir, 'tollgate.yaml')],
    /"msg":"listening","api":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/,
    { E2E_PROVIDER_KEY: PROVIDER_SECRET });
  baseURL = `http://127.0.0.1:${port}/v1`;
  adminURL = `http://127.0.0.1:${adminPort}`;
});

after(async () => {
  // Wait for the exits: the gateway writes its limits state on the way out.
  await Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on('exit', resolve);
    child.kill('SIGTERM');
  })));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('non-streaming chat completion', async () => {
  const res = await client(keys.acme.key).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Hello!' }],
    max_tokens: 4,
  });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.choices[0].message.content, 'tok0 tok1 tok2 tok3 ');
  assert.equal(res.usage.completion_tokens, 4);
});

test('request id and headers are visible through withResponse', async () => {
  const { response } = await client(keys.acme.key).chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  assert.match(response.headers.get('x-request-id'), /^req_/);
});

test('embeddings', async () => {
  const res = await client(keys.acme.key).embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b', 'c'] });
  assert.equal(res.data.length, 3);
  assert.ok(Array.isArray(res.data[0].embedding));
});

test('models list shows only what the plan allows', async () => {
  const all = [];
  for await (const m of client(keys.basic.key).models.list()) all.push(m.id);
  assert.deepEqual(all, ['gpt-4o-mini']);
  const open = [];
  for await (const m of client(keys.acme.key).models.list()) open.push(m.id);
  assert.deepEqual(open.sort(), ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small']);
});

test('401 maps to AuthenticationError', async () => {
  await assert.rejects(
    client('tg_nope0000_0000000000000000000000000000abcd').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key',
  );
});

test('403 maps to PermissionDeniedError', async () => {
  await assert.rejects(
    client(keys.frozen.key).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.code === 'tenant_suspended',
  );
  await assert.rejects(
    client(keys.basic.key).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.code === 'model_not_allowed',
  );
});

test('404 maps to NotFoundError', async () => {
  await assert.rejects(
    client(keys.acme.key).chat.completions.create({ model: 'gpt-5-imaginary', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found' && e.param === 'model',
  );
});

test('400 maps to BadRequestError', async () => {
  await assert.rejects(
    client(keys.acme.key).chat.completions.create({ model: 'gpt-4o', messages: 'not-an-array' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages',
  );
});

test('provider errors pass through with their status', async () => {
  await assert.rejects(
    client(keys.acme.key).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], mock: { fail_status: 500 } }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 500,
  );
});

test('streaming without include_usage: same text, no usage chunk', async () => {
  const stream = await client(keys.acme.key).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Hello!' }],
    max_tokens: 5,
    stream: true,
  });
  let text = '';
  let usageChunks = 0;
  for await (const chunk of stream) {
    if (chunk.usage) usageChunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'tok0 tok1 tok2 tok3 tok4 ');
  assert.equal(usageChunks, 0);
});

test('streaming with include_usage: the usage chunk comes last', async () => {
  const stream = await client(keys.acme.key).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Hello!' }],
    max_tokens: 4,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.completion_tokens, 4);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'tok0 tok1 tok2 tok3 ');
});

test('a provider failure mid-stream surfaces as an error from the SDK stream', async () => {
  const stream = await client(keys.acme.key).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Hello!' }],
    stream: true,
    mock: { reset_after: 2 },
  });
  let text = '';
  await assert.rejects(async () => {
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  }, (e) => e instanceof OpenAI.APIError && /failed while sending its response/.test(e.message));
  assert.equal(text, 'tok0 tok1 ');
});

test('429 maps to RateLimitError, and the SDK honours Retry-After', async () => {
  // One concurrency slot, held by a stream for about half a second.
  const holder = await client(keys.single.key).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Hello!' }],
    max_tokens: 5,
    stream: true,
    mock: { chunk_delay_ms: 100 },
  });
  const held = (async () => { for await (const chunk of holder) void chunk; })();
  const ask = (options) => client(keys.single.key, options).chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 1,
  });
  await assert.rejects(ask({ maxRetries: 0 }), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError, String(e));
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.equal(e.headers.get('retry-after'), '1');
    return true;
  });
  // With retries the SDK waits the Retry-After second, by which time the slot is free again.
  const started = Date.now();
  const res = await ask({ maxRetries: 3 });
  assert.equal(res.object, 'chat.completion');
  assert.ok(Date.now() - started >= 900, `retried after ${Date.now() - started} ms, before Retry-After`);
  await held;
});

test('402 budget_exceeded surfaces as an APIError with the budget details', async () => {
  await assert.rejects(
    client(keys.broke.key).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    (e) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.equal(e.status, 402);
      assert.equal(e.code, 'budget_exceeded');
      assert.equal(e.type, 'insufficient_quota');
      assert.equal(e.error.window, 'daily');
      assert.equal(e.error.limit_usd, 0.000001);
      return true;
    });
});

test('admitted responses carry the rate-limit headers', async () => {
  const { response } = await client(keys.single.key).chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 })
    .withResponse();
  assert.equal(response.headers.get('x-ratelimit-limit-requests'), '1000');
  assert.equal(response.headers.get('x-ratelimit-limit-tokens'), '1000000');
  assert.ok(Number(response.headers.get('x-ratelimit-remaining-requests')) < 1000);
  assert.match(response.headers.get('x-ratelimit-reset-requests'), /^\d+(\.\d+)?(ms|s)$/);
});

// Runs last (node:test runs a file's tests in order): after every request above, no plaintext
// key, key secret, key hash or provider secret may appear in the gateway's logs (process and
// access log, both on stderr), its /metrics, or the usage events it wrote (SPEC section 8).
test('no key or provider secret in the access log, metrics or usage events of the whole run', async () => {
  const mockLast = await (await fetch(`${mockURL}/mock/last`)).text();
  assert.ok(mockLast.includes(PROVIDER_SECRET), 'the provider key reached the provider');
  const metrics = await (await fetch(`${adminURL}/metrics`)).text();
  assert.match(metrics, /tollgate_requests_total\{tenant="acme"/);
  await new Promise((resolve) => setTimeout(resolve, 300));  // the writer threads' last lines
  const gateway = children[children.length - 1];
  const texts = {
    'gateway log': output.get(gateway),
    metrics,
    'usage events': readFileSync(join(dir, 'usage.jsonl'), 'utf8'),
  };
  assert.match(texts['gateway log'], /"msg":"request"/);
  assert.match(texts['usage events'], /"type":"usage"/);
  const secrets = { 'provider secret': PROVIDER_SECRET };
  for (const [tenant, { key }] of Object.entries(keys)) {
    secrets[`${tenant} key`] = key;
    secrets[`${tenant} key secret part`] = key.split('_')[2];
    secrets[`${tenant} key sha256`] = createHash('sha256').update(key).digest('hex');
  }
  for (const [where, text] of Object.entries(texts)) {
    for (const [what, secret] of Object.entries(secrets)) {
      assert.ok(secret.length >= 16 && !text.includes(secret), `${what} appears in the ${where}`);
    }
  }
});
