// One corrected GAN training step (batch 64, random images) in the browser: milliseconds,
// samples/s and GFLOP/s per preset on the CPU path and on WebGPU (here SwiftShader, a software
// GPU: correctness, not speed), beside the native numbers of `gradlab bench --gan`.
// Usage: node tests/e2e/bench-gan.mjs   (after trunk build --release; DEVICES=cpu,webgpu)
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serve, launch, open } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const devices = (process.env.DEVICES || 'cpu,webgpu').split(',').filter(Boolean);
// FLOPs a sample of one corrected step (models::gan::GanPreset::train_flops_per_sample): the
// networks' multiply-adds and their first layers'.
const macs = { 'gan-small': [64 * 256 + 256 * 784, 784 * 256 + 256, 64 * 256, 784 * 256], 'gan-essay': [100 * 256 + 256 * 512 + 512 * 1024 + 1024 * 3000 + 3000 * 784, 784 * 1024 + 1024 * 512 + 512 * 256 + 256, 100 * 256, 784 * 1024] };
const flops = (p) => { const [g, d, g0, d0] = macs[p]; return 2 * (4 * g - g0 + 8 * d - 2 * d0); };
const { url, close } = await serve(path.join(root, 'dist'));
const browser = await launch();
const page = await open(browser, url, 'backend=auto');
for (const device of devices) {
  if (device === 'webgpu') {
    const open = await page.waitForFunction(() => window.wasmBindings.bench_gan('gan-small', 'webgpu', 1).then(() => true, () => false), null, { timeout: 60_000, polling: 2000 }).then(() => true, () => false);
    if (!open) { console.log('webgpu: not open in this browser'); continue; }
  }
  for (const preset of ['gan-small', 'gan-essay']) {
    const steps = device === 'webgpu' ? (preset === 'gan-essay' ? 1 : 3) : (preset === 'gan-essay' ? 5 : 50);
    const ms = await page.evaluate(([p, d, n]) => window.wasmBindings.bench_gan(p, d, n), [preset, device, steps]);
    const samples = 64 * 1000 / ms;
    console.log(`browser ${preset.padEnd(9)} ${device.padEnd(7)} ${ms.toFixed(2).padStart(9)} ms/step  ${samples.toFixed(0).padStart(8)} samples/s  ${(samples * flops(preset) / 1e9).toFixed(2).padStart(7)} GFLOP/s`);
  }
}
// Time to recognisable digits: gan-small from the seed, played on the page, measured every 10 s
// until the inception score passes 3.5 (the shipped weights score 5.1).
{
  const p = await open(browser, url, 'page=gan&gan.start=seed');
  await p.waitForFunction(() => /^ready/.test(document.querySelector('[data-testid="gan-status"]').textContent), null, { timeout: 120_000 });
  await p.click('[data-testid="gan-play"]');
  const t0 = Date.now();
  for (;;) {
    await p.waitForTimeout(10_000);
    await p.click('[data-testid="gan-measure"]');
    await p.waitForFunction(() => !document.querySelector('[data-testid="gan-measure"]').disabled, null, { timeout: 120_000 });
    const is = Number(await p.textContent('[data-testid="gan-is"]'));
    const step = await p.textContent('[data-testid="gan-step"]');
    const s = (Date.now() - t0) / 1000;
    console.log(`page gan-small from the seed: ${s.toFixed(0)} s, step ${step}, IS ${is}, ${await p.textContent('[data-testid="gan-modes"]')}, ${await p.textContent('[data-testid="gan-steps-per-sec"]')} steps/s`);
    if (is >= 3.5 || s > 240) break;
  }
  await p.screenshot({ path: path.join(here, 'out', 'gan-from-seed.png'), fullPage: true });
  await p.close();
}
await browser.close();
close();
try {
  console.log(execFileSync(path.join(root, 'target/release/gradlab'), ['bench', '--gan'], { encoding: 'utf8' }).trimEnd());
} catch (e) {
  console.log(`native: ${e.message}`);
}
