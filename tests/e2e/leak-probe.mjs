// Finds what leaks, one action at a time: repeats one action N times in one page and prints the
// wasm heap's live bytes (src/ui/heap.rs) and the linear memory's size after each. A leak shows as
// live bytes that keep rising; a flat line with a larger memory is the allocator's high-water mark.
//
//   node tests/e2e/leak-probe.mjs DIST ACTION [N] [HASH]
//   ACTION: play (3 s then pause) | stepper (open, walk every stage, back) | open (open and back) | idle
import path from 'node:path';
import { serve, launch, open, text } from './lib.mjs';
const wasmHook = `addEventListener('TrunkApplicationStarted', (e) => { window.__wasm = e.detail.wasm; });`;
const dir = process.argv[2]; const what = process.argv[3] || 'play'; const n = Number(process.argv[4] || 20);
const { url, close } = await serve(path.resolve(dir));
const browser = await launch();
const hash = process.argv[5] || 'features=x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2&layers=8,8&dataset=spiral3&opt=adam&lr=0.003&backend=cpu';
const page = await open(browser, url, hash, { width: 1280, height: 800 }, wasmHook);
const live = () => page.evaluate(() => window.__wasm.heap_live_bytes());
const mem = () => page.evaluate(() => window.__wasm.memory.buffer.byteLength);
let prev = await live();
console.log('start', prev, await mem());
for (let i = 0; i < n; i++) {
  if (what === 'play') {
    await page.click('[data-testid="play"]'); await page.waitForTimeout(3000); await page.click('[data-testid="pause"]');
  } else if (what === 'stepper') {
    await page.click('[data-testid="open-stepper"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="stage-count"]')?.textContent) > 0, null, { timeout: 60_000 });
    const stages = Number(await text(page, 'stage-count'));
    for (let k = 0; k < stages; k++) await page.keyboard.press('ArrowRight');
    await page.click('[data-testid="page-play"]');
  } else if (what === 'open') {
    await page.click('[data-testid="open-stepper"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="stage-count"]')?.textContent) > 0, null, { timeout: 60_000 });
    await page.click('[data-testid="page-play"]');
  } else if (what === 'idle') {
    await page.waitForTimeout(3000);
  }
  await page.waitForTimeout(300);
  const l = await live();
  console.log(i, 'live', l, 'delta', l - prev, 'mem', await mem(), 'step', await text(page, 'step-count'));
  prev = l;
}
await browser.close(); close();
