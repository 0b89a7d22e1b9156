// Trains MNIST presets on the full data in the page (headless Chromium, CPU path) and prints the
// test accuracy the page reaches, samples/s and the time taken — the browser half of #10's
// accuracy table (natively: `gradlab train --preset … --json`). Env: PRESETS (comma-separated,
// default mlp-keras,cnn-torch,cnn-tuned), DIST (default dist/). Prints; passes or fails nothing.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, open, text } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { url, close } = await serve(process.env.DIST || path.resolve(here, '../../dist'));
const browser = await launch();
for (const preset of (process.env.PRESETS || 'mlp-keras,cnn-torch,cnn-tuned').split(',')) {
  const page = await open(browser, url, `page=mnist&mnist.preset=${preset}`, { width: 1280, height: 1000 });
  await page.waitForFunction(() => /checked against/.test(document.querySelector('[data-testid="data-status"]')?.textContent || ''), null, { timeout: 180_000 });
  await page.selectOption('[data-testid="mnist-device"]', 'cpu');
  const t0 = Date.now();
  await page.click('[data-testid="mnist-train"]');
  await page.waitForFunction(() => /^(done|training stopped)/.test(document.querySelector('[data-testid="mnist-status"]').textContent), null, { timeout: 3_600_000, polling: 1000 });
  console.log(JSON.stringify({
    preset, status: await text(page, 'mnist-status'), test_accuracy: await text(page, 'mnist-test-acc'),
    samples_per_sec: parseFloat(await text(page, 'mnist-samples-per-sec')), gflops: parseFloat(await text(page, 'mnist-gflops')),
    minutes: +((Date.now() - t0) / 60000).toFixed(2),
  }));
  await page.screenshot({ path: path.join(here, 'out', `full-${preset}.png`), fullPage: true });
  await page.close();
}
await browser.close();
close();
