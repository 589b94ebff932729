// End to end over HTTP/2: the official `openai` SDK with a `fetch` built on node:http2, against
// a real Tollgate (h2c with prior knowledge on the plain listener, h2 via ALPN over TLS) and the
// real mock upstream, over loopback sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const TOLLGATE = process.env.TOLLGATE_BINARY;
const MOCK = process.env.MOCK_UPSTREAM_BINARY;
const children = [];
const sessions = [];
let dir;
let plainPort;
let tlsPort;
let cert;
let key;

// Starts a process and resolves with the first stdout/stderr line matching `pattern`.
function start(argv, pattern) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1));
    children.push(child);
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${argv[0]} did not start:\n${seen}`)), 30000);
    const onData = (chunk) => {
      seen += chunk.toString();
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

// A fetch for the SDK that sends every request as a stream of one HTTP/2 session to `origin`.
// Response bodies are web streams fed as DATA frames arrive, so SDK streaming sees chunks live.
function h2Fetch(origin, options = {}) {
  const session = http2.connect(origin, options);
  session.on('error', () => {});
  sessions.push(session);
  const state = { session, requests: 0 };
  state.fetch = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const headers = { ':method': init.method ?? 'GET', ':path': url.pathname + url.search };
    new Headers(init.headers ?? {}).forEach((value, name) => {
      if (!['connection', 'host', 'keep-alive', 'transfer-encoding', 'upgrade'].includes(name)) headers[name] = value;
    });
    const req = session.request(headers);
    state.requests += 1;
    if (init.signal) init.signal.addEventListener('abort', () => req.close(http2.constants.NGHTTP2_CANCEL));
    let body = init.body;
    if (body != null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      body = Buffer.from(await new Response(body).arrayBuffer());
    }
    req.end(body ?? undefined);
    const head = await new Promise((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(head)) {
      if (!name.startsWith(':')) responseHeaders.append(name, Array.isArray(value) ? value.join(', ') : String(value));
    }
    return new Response(Readable.toWeb(req), { status: head[':status'], headers: responseHeaders });
  };
  return state;
}

function client(baseURL, h2) {
  return new OpenAI({ apiKey: key, baseURL, maxRetries: 0, timeout: 20000, fetch: h2.fetch });
}

before(async () => {
  assert.ok(TOLLGATE && MOCK, 'TOLLGATE_BINARY and MOCK_UPSTREAM_BINARY must be set (ctest sets them)');
  dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-h2-'));
  cert = join(dir, 'gw.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'gw.key'), '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  const [, mockPort] = await start([MOCK, '--listen', '127.0.0.1:0'], /listening 127\.0\.0\.1:(\d+)/);
  const out = execFileSync(TOLLGATE, ['keygen', '--tenant', 'acme', '--name', 'prod']).toString();
  const [fresh, , ...entry] = out.split('\n');
  key = fresh;
  const common = `admin_listen: 127.0.0.1:0
threads: 2
providers:
  mock: {base_url: "http://127.0.0.1:${mockPort}/v1"}
models:
  gpt-4o-mini: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}
tenants: tenants.yaml
`;
  writeFileSync(join(dir, 'plain.yaml'), `listen: 127.0.0.1:0\nlimits: {local: {state_dir: state-plain}}\nusage: {file: {path: usage-plain.jsonl}}\n${common}`);
  writeFileSync(join(dir, 'tls.yaml'), `listen: 127.0.0.1:0\ntls: {cert: gw.crt, key: gw.key}\nlimits: {local: {state_dir: state-tls}}\nusage: {file: {path: usage-tls.jsonl}}\n${common}`);
  writeFileSync(join(dir, 'tenants.yaml'), `plans:\n  open: {}\ntenants:\n  acme:\n    plan: open\n    keys:\n${entry.filter(Boolean).map((l) => '      ' + l).join('\n')}\n`);
  const listening = /"msg":"listening","api":"127\.0\.0\.1:(\d+)"/;
  [, plainPort] = await start([TOLLGATE, '--config', join(dir, 'plain.yaml')], listening);
  [, tlsPort] = await start([TOLLGATE, '--config', join(dir, 'tls.yaml')], listening);
});

after(async () => {
  for (const session of sessions) session.destroy();
  await Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on('exit', resolve);
    child.kill('SIGTERM');
  })));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function nonStreaming(baseURL, h2) {
  const res = await client(baseURL, h2).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Hello!' }],
    max_tokens: 4,
  });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.choices[0].message.content, 'tok0 tok1 tok2 tok3 ');
}

async function streaming(baseURL, h2) {
  const stream = await client(baseURL, h2).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Hello!' }],
    max_tokens: 6,
    stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'tok0 tok1 tok2 tok3 tok4 tok5 ');
}

test('h2c: non-streaming and streaming chat completions', async () => {
  const h2 = h2Fetch(`http://127.0.0.1:${plainPort}`);
  const baseURL = `http://127.0.0.1:${plainPort}/v1`;
  await nonStreaming(baseURL, h2);
  await streaming(baseURL, h2);
  assert.equal(h2.requests, 2);
  assert.equal(h2.session.alpnProtocol, 'h2c');
});

test('h2c: twenty concurrent requests share one connection', async () => {
  const h2 = h2Fetch(`http://127.0.0.1:${plainPort}`);
  const baseURL = `http://127.0.0.1:${plainPort}/v1`;
  const runs = [];
  for (let i = 0; i < 20; i += 1) runs.push(i % 2 ? streaming(baseURL, h2) : nonStreaming(baseURL, h2));
  await Promise.all(runs);
  assert.equal(h2.requests, 20);
});

test('h2 over TLS (ALPN): non-streaming and streaming chat completions', async () => {
  const h2 = h2Fetch(`https://localhost:${tlsPort}`, { ca: readFileSync(cert) });
  const baseURL = `https://localhost:${tlsPort}/v1`;
  await nonStreaming(baseURL, h2);
  await streaming(baseURL, h2);
  assert.equal(h2.session.alpnProtocol, 'h2');
});

test('errors keep their SDK classes over h2', async () => {
  const h2 = h2Fetch(`http://127.0.0.1:${plainPort}`);
  await assert.rejects(
    new OpenAI({ apiKey: 'tg_nope0000_0000000000000000000000000000abcd', baseURL: `http://127.0.0.1:${plainPort}/v1`,
      maxRetries: 0, timeout: 20000, fetch: h2.fetch })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key',
  );
});
