// Browser benchmark: steps/s of the playground net (default settings) while playing, on the CPU
// path and on WebGPU, as the page itself reports them; plus the wasm size raw and gzipped.
// Prints numbers and ratios only: nothing here passes or fails on time.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { serve, launch, open, text } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../../dist');
const seconds = Number(process.env.BENCH_SECONDS || 15);

for (const f of fs.readdirSync(dist).filter((f) => f.endsWith('.wasm'))) {
  const raw = fs.readFileSync(path.join(dist, f));
  const gz = zlib.gzipSync(raw, { level: 9 });
  console.log(JSON.stringify({ where: 'dist', file: f, wasm_bytes: raw.length, gzip_bytes: gz.length }));
}

const { url, close } = await serve(dist);
const browser = await launch();
const results = {};
for (const backend of ['cpu', 'webgpu']) {
  const page = await open(browser, url, `backend=${backend}`);
  const shown = await text(page, 'backend');
  if (shown !== backend) {
    console.log(JSON.stringify({ where: 'browser', backend, skipped: `page runs on ${shown}` }));
    await page.close();
    continue;
  }
  const step0 = Number(await text(page, 'step-count'));
  const t0 = Date.now();
  await page.click('[data-testid="play"]');
  await page.waitForTimeout(seconds * 1000);
  await page.click('[data-testid="pause"]');
  const elapsed = (Date.now() - t0) / 1000;
  const steps = Number(await text(page, 'step-count')) - step0;
  results[backend] = steps / elapsed;
  console.log(JSON.stringify({
    where: 'browser', backend, steps, seconds: +elapsed.toFixed(2),
    steps_per_sec: +(steps / elapsed).toFixed(1), page_shows: Number(await text(page, 'steps-per-sec')),
  }));
  await page.close();
}
if (results.cpu && results.webgpu) {
  console.log(JSON.stringify({ where: 'browser', webgpu_vs_cpu: +(results.webgpu / results.cpu).toFixed(4) }));
}
await browser.close();
close();
