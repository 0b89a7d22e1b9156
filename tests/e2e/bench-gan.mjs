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
// FLOPs a sample of one step (models::gan::GanPreset::train_flops_per_sample).
const macs = { 'gan-small': [64 * 256 + 256 * 784, 784 * 256 + 256], 'gan-essay': [100 * 256 + 256 * 512 + 512 * 1024 + 1024 * 3000 + 3000 * 784, 784 * 1024 + 1024 * 512 + 512 * 256 + 256] };
const flops = (p) => { const [g, d] = macs[p]; return 2 * (g + 6 * d + 3 * g + 2 * d); };
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
await browser.close();
close();
try {
  console.log(execFileSync(path.join(root, 'target/release/gradlab'), ['bench', '--gan'], { encoding: 'utf8' }).trimEnd());
} catch (e) {
  console.log(`native: ${e.message}`);
}
