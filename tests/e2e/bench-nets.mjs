// Browser benchmark of the play loop on networks from the default to the largest (6 × 16, all 7
// features, 3 classes), on the CPU path: steps/s, frames the page drew per second (its
// data-frames counter), the browser's animation frames per second and the longest gap between two
// of them (a long gap is a frozen page), and where the steps ran (the page's worker or its own
// thread); first, the frames per second of the page not playing. Prints one JSON line per network;
// nothing passes or fails.
//
//   node tests/e2e/bench-nets.mjs [SECONDS]      (serves dist/, or $DIST)
//   WHERE=worker,page    the places to compare, one line each (default: the page's own choice)
//   ONLY=regex           only the networks whose name matches
//   WARM=seconds         play this long before counting (the steady state: past the first frames,
//                        which train on the page until the worker has started); default 0, from
//                        the click
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, open, text } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.DIST ? path.resolve(process.env.DIST) : path.resolve(here, '../../dist');
const seconds = Number(process.argv[2] || 8);
const all = 'features=x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2';
export const NETS = [
  ['4,2 (default)', ''],
  ['8', 'layers=8'],
  ['4,4', 'layers=4,4'],
  ['8,8', 'layers=8,8'],
  ['4,4,4,4', 'layers=4,4,4,4'],
  ['16,16', 'layers=16,16'],
  ['8,8 spiral adam all', `${all}&layers=8,8&dataset=spiral&opt=adam&lr=0.01`],
  ['6x16 all 3-class', `${all}&layers=16,16,16,16,16,16&dataset=spiral3&opt=adam&lr=0.003`],
];

/** Counts the browser's animation frames and the longest gap between two. */
const rafProbe = `window.__raf = { n: 0, max: 0, last: 0 };
  const tick = (t) => { const r = window.__raf; if (r.last) r.max = Math.max(r.max, t - r.last); r.last = t; r.n++; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);`;

/** Plays `hash` for `seconds` on the CPU path (its steps where `where` asks: 'worker', 'page', or
 *  '' for the page's choice); returns the measures. */
export async function measure(browser, url, hash, seconds, where = '', warm = Number(process.env.WARM || 0)) {
  const ask = where ? `window.gradlabTrainIn = ${JSON.stringify(where)};` : '';
  const page = await open(browser, url, `${hash}${hash ? '&' : ''}backend=cpu`, { width: 1280, height: 800 }, ask + rafProbe);
  const frames = async () => Number(await page.locator('.counters').getAttribute('data-frames'));
  if (warm > 0) {
    await page.click('[data-testid="play"]');
    await page.waitForTimeout(warm * 1000);
  }
  const step0 = Number(await text(page, 'step-count'));
  const frames0 = await frames();
  await page.evaluate(() => { window.__raf.n = 0; window.__raf.max = 0; window.__raf.last = 0; });
  const t0 = Date.now();
  if (!(warm > 0)) await page.click('[data-testid="play"]');
  await page.waitForTimeout(seconds * 1000);
  const raf = await page.evaluate(() => ({ ...window.__raf }));
  const elapsed = (Date.now() - t0) / 1000;
  const steps = Number(await text(page, 'step-count')) - step0;
  const drawn = (await frames()) - frames0;
  const ran = await page.locator('.counters').getAttribute('data-where');
  // The share of its time the worker trained at the end (under 1 where it left the CPU to drawing).
  const share = Number(await page.locator('.counters').getAttribute('data-share'));
  await page.click('[data-testid="pause"]');
  const errors = await page.locator('[data-testid="app-error"]').count();
  await page.close();
  return {
    steps_per_sec: Math.round(steps / elapsed), frames_per_sec: +(drawn / elapsed).toFixed(1),
    raf_per_sec: +(raf.n / elapsed).toFixed(1), longest_frame_ms: Math.round(raf.max), where: ran, worker_share: share, errors,
  };
}

/** The browser's animation frames per second on the page not playing: the ceiling here. */
export async function idle(browser, url, seconds) {
  const page = await open(browser, url, 'backend=cpu', { width: 1280, height: 800 }, rafProbe);
  await page.evaluate(() => { window.__raf.n = 0; window.__raf.max = 0; window.__raf.last = 0; });
  const t0 = Date.now();
  await page.waitForTimeout(seconds * 1000);
  const raf = await page.evaluate(() => ({ ...window.__raf }));
  await page.close();
  return { raf_per_sec: +(raf.n / ((Date.now() - t0) / 1000)).toFixed(1), longest_frame_ms: Math.round(raf.max) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url, close } = await serve(dist);
  const browser = await launch({ webgpu: process.env.WEBGPU === '1' });
  const places = (process.env.WHERE || '').split(',');
  console.log(JSON.stringify({ net: 'idle page (not playing)', ...await idle(browser, url, seconds) }));
  for (const [net, hash] of NETS.filter(([net]) => new RegExp(process.env.ONLY || '').test(net))) {
    for (const where of places) console.log(JSON.stringify({ net, ...await measure(browser, url, hash, seconds, where) }));
  }
  await browser.close();
  close();
}
