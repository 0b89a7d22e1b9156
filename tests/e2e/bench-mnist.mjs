// MNIST race (#10): samples/s training the essays' MLP (mlp-keras) and CNN (cnn-torch) in one
// headless-Chromium run — gradlab on its CPU path and on WebGPU, as its MNIST page reports them,
// beside TensorFlow.js 4.22 (npm @tensorflow/tfjs, -backend-wasm, -backend-webgpu; webgl and cpu
// come with tfjs) on the same nets, batch sizes and browser. Prints numbers and ratios; nothing
// here passes or fails on time. Env: DIST (the app's build, default dist/), BATCHES (per run, 40),
// WEBGPU=0 (no GPU flags), DEVICES (gradlab's, default cpu,cpu-worker,cpu-page,webgpu: cpu as the page
// chooses — on its own thread, or in its Web Worker once a step is longer than a frame allows —
// cpu-worker and cpu-page forced there), TFJS (TF.js backends, default wasm,webgl,cpu,webgpu; empty: none).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, open, text } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.DIST || path.resolve(here, '../../dist');
const batches = Number(process.env.BATCHES || 40);
const list = (v, all) => (v === undefined ? all : v.split(',').filter(Boolean));
const devices = list(process.env.DEVICES, ['cpu', 'cpu-worker', 'cpu-page', 'webgpu']);
const backends = list(process.env.TFJS, ['wasm', 'webgl', 'cpu', 'webgpu']);
const tfjs = path.join(here, 'node_modules/@tensorflow');
const MODELS = { mlp: { preset: 'mlp-keras', batch: 128 }, cnn: { preset: 'cnn-torch', batch: 100 } };

const { url, close } = await serve(dist);
// WEBGPU=0: Chromium without a GPU (CPU raster; no WebGPU): frame gaps without SwiftShader's raster.
const browser = await launch({ webgpu: process.env.WEBGPU !== '0' });
const rows = [];
const say = (row) => { rows.push(row); console.log(JSON.stringify(row)); };

// gradlab: the MNIST page trains `batches` batches (a subset of that size, one epoch) and shows
// samples/s over its training time.
for (const device of devices) {
  for (const [model, { preset, batch }] of Object.entries(MODELS)) {
    const place = { 'cpu-page': 'page', 'cpu-worker': 'worker' }[device];
    const init = place ? `window.gradlabTrainIn = '${place}';` : null;
    const page = await open(browser, url, `page=mnist&mnist.preset=${preset}&mnist.epochs=1&mnist.limit=${Math.max(100, batch * batches)}`, { width: 1280, height: 1000 }, init);
    await page.waitForFunction(() => /checked against/.test(document.querySelector('[data-testid="data-status"]')?.textContent || ''), null, { timeout: 180_000 });
    if (device === 'webgpu') {
      // The page opens WebGPU once it is idle; the device menu offers it then.
      const ok = await page.waitForFunction(() => !document.querySelector('[data-testid="mnist-device"] option[value="webgpu"]').disabled, null, { timeout: 30_000 }).then(() => true, () => false);
      if (!ok) { say({ who: 'gradlab', device, model, skipped: 'no WebGPU in this browser' }); await page.close(); continue; }
      await page.selectOption('[data-testid="mnist-device"]', 'webgpu');
    } else {
      await page.selectOption('[data-testid="mnist-device"]', 'cpu'); // cpu, cpu-worker, cpu-page
    }
    // Frame gaps while it trains: the page's frames, whatever thread the steps take.
    await page.evaluate(() => {
      window.__gaps = [];
      let last = performance.now();
      const tick = (t) => { window.__gaps.push(t - last); last = t; if (!window.__stopGaps) requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    });
    const t0 = Date.now();
    await page.click('[data-testid="mnist-train"]');
    await page.waitForFunction(() => /^(done|training stopped)/.test(document.querySelector('[data-testid="mnist-status"]').textContent), null, { timeout: 900_000 });
    const status = await text(page, 'mnist-status');
    const gaps = (await page.evaluate(() => { window.__stopGaps = true; return window.__gaps.slice(5); })).sort((a, b) => b - a);
    const frames = { frames: gaps.length, over_50ms: gaps.filter((g) => g > 50).length, worst_ms: gaps.slice(0, 3).map(Math.round), median_ms: Math.round(gaps[gaps.length >> 1] || 0) };
    const where = await page.locator('[data-testid="mnist-where"]').getAttribute('data-value');
    say({ who: 'gradlab', device, where, model, batch, batches, samples_per_sec: parseFloat(await text(page, 'mnist-samples-per-sec')), gflops: parseFloat(await text(page, 'mnist-gflops')), status, wall_s: (Date.now() - t0) / 1000, ...frames });
    await page.close();
  }
}

// TensorFlow.js: the same nets built with tf.layers, trained with model.fit on random data of
// MNIST's shape (speed does not depend on the values): one warm-up batch, then `batches` batches.
const page = await browser.newPage();
await page.route('**/tfjs/**', (route) => {
  const rel = new URL(route.request().url()).pathname.replace(/^\/tfjs\//, '');
  const file = path.join(tfjs, rel);
  if (rel === 'bench.html') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>tfjs</title>' });
  if (!file.startsWith(tfjs) || !fs.existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
  route.fulfill({ contentType: file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', body: fs.readFileSync(file) });
});
await page.goto(`${url}tfjs/bench.html`);
for (const script of ['tfjs/dist/tf.min.js', 'tfjs-backend-wasm/dist/tf-backend-wasm.min.js', 'tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js']) {
  await page.addScriptTag({ url: `${url}tfjs/${script}` });
}
const version = await page.evaluate(() => tf.version.tfjs);
for (const backend of backends) {
  for (const [model, { batch }] of Object.entries(MODELS)) {
    const result = await page.evaluate(async ({ backend, model, batch, batches, base }) => {
      try {
        if (backend === 'wasm') tf.wasm.setWasmPaths(`${base}tfjs/tfjs-backend-wasm/dist/`);
        if (!(await tf.setBackend(backend))) return { skipped: 'backend not available' };
        await tf.ready();
        const m = tf.sequential();
        if (model === 'mlp') {
          m.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
          m.add(tf.layers.dense({ units: 128, activation: 'relu' }));
          m.add(tf.layers.dropout({ rate: 0.2 }));
          m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
          m.compile({ optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy' });
        } else {
          m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 5, padding: 'same', activation: 'relu' }));
          m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
          m.add(tf.layers.flatten());
          m.add(tf.layers.dense({ units: 10, activation: 'relu' }));
          m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
          m.compile({ optimizer: tf.train.momentum(0.001, 0.9), loss: 'categoricalCrossentropy' });
        }
        const n = batch * batches;
        const x = tf.randomUniform([n, 28, 28, 1]);
        const y = tf.oneHot(tf.randomUniform([n], 0, 10, 'int32'), 10).toFloat();
        const wx = x.slice([0, 0, 0, 0], [batch, 28, 28, 1]), wy = y.slice([0, 0], [batch, 10]);
        await m.fit(wx, wy, { batchSize: batch, epochs: 1, verbose: 0 });
        const t0 = performance.now();
        await m.fit(x, y, { batchSize: batch, epochs: 1, verbose: 0, shuffle: false });
        const s = (performance.now() - t0) / 1000;
        tf.dispose([x, y, wx, wy]);
        m.dispose();
        return { samples_per_sec: n / s, seconds: s };
      } catch (e) {
        return { skipped: String(e && e.message || e).slice(0, 160) };
      }
    }, { backend, model, batch, batches, base: url });
    say({ who: 'tfjs', version, backend, model, batch, batches, ...result });
  }
}
await page.close();

// Ratios: gradlab's best device over TF.js's best backend, per model.
for (const model of Object.keys(MODELS)) {
  const best = (who) => rows.filter((r) => r.who === who && r.model === model && r.samples_per_sec).sort((a, b) => b.samples_per_sec - a.samples_per_sec)[0];
  const [g, t] = [best('gradlab'), best('tfjs')];
  if (g && t) say({ model, gradlab: `${g.device} ${Math.round(g.samples_per_sec)}`, tfjs_best: `${t.backend} ${Math.round(t.samples_per_sec)}`, ratio: +(g.samples_per_sec / t.samples_per_sec).toFixed(2) });
}
await browser.close();
close();
