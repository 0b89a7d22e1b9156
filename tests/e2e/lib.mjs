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

/** Opens the app at `hash` and waits until it says it is interactive. */
export async function open(browser, url, hash = '', viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport });
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.logs = logs;
  await page.goto(url + (hash ? `#${hash}` : ''));
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
  return page;
}

/** Text of a data-testid element. */
export async function text(page, id) {
  return (await page.locator(`[data-testid="${id}"]`).first().textContent()).trim();
}
