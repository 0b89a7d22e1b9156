// Browser benchmark of the start-up with `backend=auto`: when the page says it is ready, when a
// click on play starts training, and every stall after that while WebGPU is opened and measured in
// the background (long tasks on the main thread and gaps between animation frames over 50 ms), each
// with what the footer said at the time. Prints JSON lines; nothing passes or fails.
//
//   node tests/e2e/bench-startup.mjs [SECONDS] [HASH]     (serves dist/, or $DIST)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.DIST ? path.resolve(process.env.DIST) : path.resolve(here, '../../dist');
const seconds = Number(process.argv[2] || 20);
const hash = process.argv[3] || '';

/** Installed before the page's scripts: long tasks, animation-frame gaps and footer changes, each
 *  stamped with performance.now(). */
const probe = `window.__probe = { long: [], gaps: [], notes: [] };
  try { new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__probe.long.push([Math.round(e.startTime), Math.round(e.duration)]); })
    .observe({ type: 'longtask', buffered: true }); } catch (e) {}
  let last = 0;
  const tick = (t) => { if (last && t - last > 50) window.__probe.gaps.push([Math.round(last), Math.round(t - last)]); last = t; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  let note = '';
  setInterval(() => { const n = document.querySelector('[data-testid="backend-note"]')?.textContent || '';
    if (n !== note) { note = n; window.__probe.notes.push([Math.round(performance.now()), n]); } }, 20);`;

const { url, close } = await serve(dist);
const browser = await launch({ webgpu: process.env.WEBGPU !== '0' });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.addInitScript(probe);
await page.goto(url + (hash ? `#${hash}` : ''));
await page.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
const ready = await page.evaluate(() => Math.round(performance.now()));
await page.click('[data-testid="play"]');
await page.waitForFunction(() => Number(document.querySelector('[data-testid="step-count"]').textContent) > 0);
const training = await page.evaluate(() => Math.round(performance.now()));
await page.click('[data-testid="pause"]');
await page.waitForTimeout(seconds * 1000);
const p = await page.evaluate(() => window.__probe);
const backend = await page.locator('[data-testid="backend"]').textContent();
console.log(JSON.stringify({ ready_ms: ready, training_ms: training, backend }));
const noteAt = (t) => (p.notes.filter(([at]) => at <= t).pop() || [0, ''])[1];
for (const [at, ms] of p.long) if (at > ready) console.log(JSON.stringify({ long_task_at: at, ms, note: noteAt(at) }));
for (const [at, ms] of p.gaps) if (at > ready) console.log(JSON.stringify({ frame_gap_at: at, ms, note: noteAt(at) }));
for (const [at, n] of p.notes) console.log(JSON.stringify({ note_at: at, note: n }));
const worst = Math.max(0, ...p.long.filter(([at]) => at > ready).map(([, ms]) => ms));
const worstGap = Math.max(0, ...p.gaps.filter(([at]) => at > ready).map(([, ms]) => ms));
console.log(JSON.stringify({ longest_task_after_ready_ms: worst, longest_frame_gap_after_ready_ms: worstGap }));
await browser.close();
close();
