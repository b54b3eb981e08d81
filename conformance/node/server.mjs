// Start and stop the real assistd binary for the tests.
//
//   const server = await startAssistd({ upstreamURL: up.baseURL });
//   const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-any' });
//   ...
//   await server.stop();
//
// The binary is $ASSISTD_BIN, or <repo>/target/debug/assistd. It is started as
// `assistd serve --listen 127.0.0.1:0 --data-dir <fresh tmpdir>` with ASSISTD_WORKERS=4,
// ASSISTD_UPSTREAM_URL=<the fake upstream>, RUST_LOG=warn, no ASSISTD_API_KEYS (open mode: any key is
// accepted) and none of the caller's other ASSISTD_* settings. It is ready once it has printed
// `assistd listening on http://127.0.0.1:PORT` and `GET /healthz` answers 200.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const ASSISTD_BIN = process.env.ASSISTD_BIN || path.join(REPO_ROOT, 'target', 'debug', 'assistd');
const STARTUP_TIMEOUT_MS = Number(process.env.ASSISTD_STARTUP_TIMEOUT_MS || 30000);
const LISTENING_RE = /listening on (http:\/\/127\.0\.0\.1:(\d+))/;

export async function startAssistd({ upstreamURL, workers = 4, env: extra = {} } = {}) {
  if (!existsSync(ASSISTD_BIN)) {
    throw new Error(`assistd binary not found at ${ASSISTD_BIN} (build it, or set ASSISTD_BIN)`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'assistd-node-'));
  const dataDir = path.join(dir, 'data');
  const stderrLog = path.join(dir, 'stderr.log');

  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ASSISTD_')));
  env.ASSISTD_WORKERS = String(workers);
  // Lexical file_search unless a test asks for embeddings: the built-in embedding model would
  // otherwise be fetched into every fresh data directory.
  env.ASSISTD_EMBEDDINGS_ENABLED = 'false';
  if (upstreamURL) env.ASSISTD_UPSTREAM_URL = upstreamURL;
  // The code_interpreter sandbox's Python, when the test command installed it (scripts/install-sandbox).
  if (process.env.ASSISTD_TEST_SANDBOX_PYTHON) {
    env.ASSISTD_CODE_INTERPRETER_PYTHON = process.env.ASSISTD_TEST_SANDBOX_PYTHON;
  }
  env.RUST_LOG = 'warn';
  Object.assign(env, extra);

  const proc = spawn(ASSISTD_BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errLog = createWriteStream(stderrLog);
  proc.stderr.pipe(errLog);
  let stdout = '';
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));

  const tail = async () => {
    const err = await readFile(stderrLog, 'utf8').catch(() => '');
    return `--- stdout ---\n${stdout.slice(-2000)}\n--- stderr ---\n${err.slice(-4000)}`;
  };

  let rootURL;
  try {
    rootURL = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`assistd did not print its address within ${STARTUP_TIMEOUT_MS} ms`)),
        STARTUP_TIMEOUT_MS,
      );
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (s) => {
        stdout += s;
        const m = LISTENING_RE.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      proc.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`assistd exited during startup (code ${code}, signal ${signal})`));
      });
    });
    await waitHealthy(rootURL);
  } catch (e) {
    proc.kill('SIGKILL');
    await exited;
    const logs = await tail();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${e.message}\n${logs}`);
  }

  return {
    rootURL,
    baseURL: `${rootURL}/v1`,
    dataDir,
    proc,
    logs: tail,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      errLog.end();
      if (!process.env.ASSISTD_KEEP_DATA) await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitHealthy(rootURL) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${rootURL}/healthz`);
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`GET /healthz did not answer 200 (${last})`);
}

/**
 * Whether the code_interpreter sandbox's Python is there (ASSISTD_TEST_SANDBOX_PYTHON): a test calls
 * `t.skip(reason)` and returns when it is not; with ASSISTD_TEST_SANDBOX=required this throws instead.
 */
export function sandboxMissing() {
  if (process.env.ASSISTD_TEST_SANDBOX_PYTHON) return null;
  const why = 'ASSISTD_TEST_SANDBOX_PYTHON is unset: no Python for the code_interpreter sandbox ' +
    '(run scripts/install-sandbox and export ASSISTD_TEST_SANDBOX_PYTHON=<its venv>, as scripts/test does)';
  if (process.env.ASSISTD_TEST_SANDBOX === 'required') {
    throw new Error(`ASSISTD_TEST_SANDBOX=required, but ${why}`);
  }
  return why;
}
