// The soak: plays the playground and walks the stepper for N minutes in one page, sampling the JS
// heap (after a forced garbage collection) and the wasm memory every 10 s, and prints the growth
// after the first minute and two whole play+stepper cycles. Memory must stay flat: growth < 5% (the
// browser tests run 3 minutes with the same bound; `./x soak 60` runs an hour by hand).
//
//   node tests/e2e/soak.mjs MINUTES        (serves dist/, prints one JSON line per sample, then a summary
//                                           with the growth after minute 1 and after minute 2)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, open, text } from './lib.mjs';

/** Keeps the app's wasm exports (its memory) in `window.__wasm` when trunk's loader starts it. */
const wasmHook = `addEventListener('TrunkApplicationStarted', (e) => { window.__wasm = e.detail.wasm; });`;

/** One sample: JS heap used after a full GC, the wasm linear memory's size (a high-water mark: it
 *  never shrinks) and the bytes the wasm heap holds now (`heap_live_bytes`, src/ui/heap.rs). */
async function sample(page, cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  const w = await page.evaluate(() => {
    const x = window.__wasm;
    return [x?.memory?.buffer?.byteLength ?? -1, x?.heap_live_bytes?.() ?? -1, x?.heap_peak_bytes?.() ?? -1, x?.heap_largest_bytes?.() ?? -1];
  });
  return { js_heap: usedSize, wasm_memory: w[0], wasm_live: w[1], wasm_peak: w[2], wasm_largest: w[3] };
}

/** Alternates between the playground (play 20 s, all features, 8,8, 3 classes; pause) and the
 *  stepper (open it on the playground's next step, walk every stage, take a next step, back),
 *  for `minutes`. Returns the samples and the growth of each measure from the first minute's
 *  last sample to the end. `log` gets every sample as it is taken. */
export async function soak(browser, url, minutes, log = () => {}, warmup = 60) {
  const hash = 'features=x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2&layers=8,8&dataset=spiral3&opt=adam&lr=0.003&backend=cpu';
  const page = await open(browser, url, hash, { width: 1280, height: 800 }, wasmHook);
  const cdp = await page.context().newCDPSession(page);
  const t0 = Date.now();
  const end = t0 + minutes * 60_000;
  const samples = [];
  let nextSample = t0;
  let cycles = 0;
  const maybeSample = async () => {
    if (Date.now() < nextSample) return;
    nextSample += 10_000;
    const s = { t: Math.round((Date.now() - t0) / 1000), cycles, step: Number(await text(page, 'step-count')), ...await sample(page, cdp) };
    samples.push(s);
    log(s);
  };
  const busy = async (ms) => {
    const until = Math.min(end, Date.now() + ms);
    while (Date.now() < until) {
      await maybeSample();
      await page.waitForTimeout(Math.min(1000, Math.max(0, until - Date.now())));
    }
  };
  await maybeSample();
  while (Date.now() < end) {
    await page.click('[data-testid="play"]');
    await busy(20_000);
    await page.click('[data-testid="pause"]');
    if (Date.now() >= end) break;
    await page.click('[data-testid="open-stepper"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="stage-count"]')?.textContent) > 0, null, { timeout: 60_000 });
    const stages = Number(await text(page, 'stage-count'));
    for (let i = 0; i < stages && Date.now() < end; i++) {
      await page.keyboard.press('ArrowRight');
      if (i % 20 === 0) await maybeSample();
    }
    await page.click('[data-testid="page-play"]');
    cycles += 1;
    await busy(1_000);
  }
  await maybeSample();
  const errors = await page.locator('[data-testid="app-error"]').count();
  await page.close();
  // The baseline: the first sample after the warm-up (`warmup` seconds and two whole cycles): the
  // allocator reaches its working size in the first minutes (one step of ~0.4 MB, once, at 60–90 s
  // in the hour-long soak); a leak shows as growth after that.
  const base = samples.find((s) => s.t >= warmup && s.cycles >= 2) ?? samples.find((s) => s.t >= warmup) ?? samples.at(0);
  const last = samples.at(-1);
  const growth = (k) => (last[k] - base[k]) / base[k];
  return { samples, base, last, growth: { js_heap: growth('js_heap'), wasm_memory: growth('wasm_memory'), wasm_live: growth('wasm_live') }, errors };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const minutes = Number(process.argv[2] || 60);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const { url, close } = await serve(process.env.DIST ? path.resolve(process.env.DIST) : path.resolve(here, '../../dist'));
  const browser = await launch();
  const r = await soak(browser, url, minutes, (s) => console.log(JSON.stringify(s)));
  const after2 = r.samples.find((s) => s.t >= 120) ?? r.base;
  const pct = (a, b) => +(100 * (b - a) / a).toFixed(2);
  console.log(JSON.stringify({
    minutes, samples: r.samples.length, steps: r.last.step, errors: r.errors,
    from: r.base, to: r.last,
    js_heap_growth_pct: +(100 * r.growth.js_heap).toFixed(2), wasm_memory_growth_pct: +(100 * r.growth.wasm_memory).toFixed(2),
    wasm_live_growth_pct: +(100 * r.growth.wasm_live).toFixed(2),
    after_minute_2: { js_heap_growth_pct: pct(after2.js_heap, r.last.js_heap), wasm_memory_growth_pct: pct(after2.wasm_memory, r.last.wasm_memory), wasm_live_growth_pct: pct(after2.wasm_live, r.last.wasm_live) },
  }));
  await browser.close();
  close();
  process.exit(r.growth.js_heap < 0.05 && r.growth.wasm_memory < 0.05 && !r.errors ? 0 : 1);
}
