// Shared by the browser tests and the browser benchmark: a static server for dist/ on 127.0.0.1,
// and headless Debian chromium (never a downloaded browser) with WebGPU on SwiftShader.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { chromium } from 'playwright-core';

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.json': 'application/json',
};

/** Serves `dir` on 127.0.0.1 at a free port; resolves to { url, close }. */
export function serve(dir) {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = path.join(dir, path.normalize(rel).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(path.resolve(dir))) { res.writeHead(403).end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    fs.readFile(file, (err, data) => {
      if (err) { res.writeHead(404).end('not found'); return; }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
      res.end(data);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() });
  }));
}

/** Headless chromium with the flags measured in ../shared/TOOLCHAIN.md; `webgpu: false` leaves
 *  WebGPU off (navigator.gpu gives no adapter), as on a browser without it. */
export async function launch({ webgpu = true } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-chromium-'));
  const gpuFlags = webgpu
    ? ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader']
    : ['--disable-gpu'];
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    ignoreDefaultArgs: true,
    args: [
      '--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...gpuFlags,
      `--user-data-dir=${userDataDir}`, '--remote-debugging-pipe',
    ],
  });
}

/** Opens the app at `hash` and waits until it says it is interactive. `init` (a function) runs in
 *  the page before any of its scripts (page.addInitScript), e.g. a test hook; or [function, its
 *  argument]. */
export async function open(browser, url, hash = '', viewport = { width: 1280, height: 800 }, init = null) {
  const page = await browser.newPage({ viewport });
  if (init) await (Array.isArray(init) ? page.addInitScript(...init) : page.addInitScript(init));
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.logs = logs;
  await page.goto(url + (hash ? `#${hash}` : ''));
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
  return page;
}

/** An init script for `open`: the page's Worker wrapped so a test can end it as a crash would —
 *  terminated, then an error event (what a worker that dies, e.g. out of memory, delivers) — by
 *  calling `window.__killWorker()`. `trainIn` ('worker' or 'page'), when given, sets the page's
 *  `window.gradlabTrainIn` hook too. */
export function killableWorker(trainIn = null) {
  return [(trainIn) => {
    if (trainIn) window.gradlabTrainIn = trainIn;
    const Native = window.Worker;
    window.Worker = class extends Native {
      constructor(...args) {
        super(...args);
        window.__killWorker = () => { this.terminate(); this.dispatchEvent(new ErrorEvent('error', { message: 'killed by the test' })); };
      }
    };
  }, trainIn];
}

/** Text of a data-testid element. */
export async function text(page, id) {
  return (await page.locator(`[data-testid="${id}"]`).first().textContent()).trim();
}

export function assert(cond, msg) { if (!cond) throw new Error(msg); }

/** The step counter in the header. */
export const stepCount = async (page) => Number(await text(page, 'step-count'));

/** The exact value (data-value) of a loss box. */
export const lossValue = (page, id) => page.locator(`[data-testid="${id}"]`).getAttribute('data-value');

/** The value of an input or select. */
export const value = (page, id) => page.locator(`[data-testid="${id}"]`).inputValue();

/** Fails if the page shows an error banner. */
export async function noError(page) {
  const n = await page.locator('[data-testid="app-error"]').count();
  assert(n === 0, `app-error shown: ${n && await text(page, 'app-error')}`);
}

/** Fails if the page threw or the wasm panicked (console_error_panic_hook logs "panicked at"). */
export function noPanic(page) {
  const bad = page.logs.filter((l) => l.startsWith('pageerror') || l.includes('panicked'));
  assert(bad.length === 0, bad.join('\n'));
}

/** Clicks a download link and returns the file's bytes. */
export async function download(page, id) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid="${id}"]`)]);
  return fs.readFileSync(await file.path());
}

/** Parses a safetensors header: { name: { dtype, shape, data_offsets } }. */
export function safetensorsHeader(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
}

/** An init script (for `open`) that keeps every GPUDevice the page creates in
 *  `window.__gpuDevices` — the test's handle for destroying the app's real device — and, with
 *  `destroyAtOnce`, destroys each one as soon as it is created (lost before the first readout).
 *  It needs no special build of the app. */
export function gpuHook(destroyAtOnce = false) {
  return `(() => {
    window.__gpuDevices = [];
    if (!window.GPUAdapter) return;
    const request = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (...args) {
      const device = await request.apply(this, args);
      window.__gpuDevices.push(device);
      if (${destroyAtOnce}) device.destroy();
      return device;
    };
  })();`;
}

/** Opens the app at `hash` and the stepper on the playground's next step; waits for its stages. */
export async function openPlaygroundStepper(browser, url, hash, viewport = { width: 1400, height: 1000 }) {
  const page = await open(browser, url, hash, viewport);
  await page.click('[data-testid="open-stepper"]');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="stage-count"]')?.textContent) > 0, null, { timeout: 60_000 });
  return page;
}
