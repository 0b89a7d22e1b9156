//! What the GAN page draws: the grid of samples from the fixed z, the latent picture and the
//! interpolation strip (one batch through the generator), and the D(x) / D(G(z)) histograms.

use super::*;

/// Generates the grid (and the latent picture and the strip) from the fixed z and draws them.
pub(super) async fn draw_samples(g: GanUi) {
    let Ok(dev) = cpu() else { return };
    let c = g.config.get_untracked();
    let latent = c.preset.latent();
    let mut z = sample_z(c.preset, c.seed, GRID);
    // The latent panel: sample 0 with its first dimensions set by the sliders; the strip: from
    // sample 0 to sample 1 in STRIP steps.
    let mut edited = z[..latent].to_vec();
    edited[..SLIDERS].copy_from_slice(&g.latent.get_untracked());
    z.extend_from_slice(&edited);
    for k in 0..STRIP {
        let t = k as f32 / (STRIP - 1) as f32;
        let between: Vec<f32> = (0..latent).map(|i| (1.0 - t) * z[i] + t * z[latent + i]).collect();
        z.extend(between);
    }
    let rows = GRID + 1 + STRIP;
    let Some(images) = with_trainer(|t| t.generate(tensor(&z, [rows, latent], &dev, Precision::F32))) else { return };
    let Ok(pixels) = read(&images).await else { return };
    draw_grid("gan-grid", &pixels[..GRID * 784], 8);
    draw_grid("gan-latent", &pixels[GRID * 784..(GRID + 1) * 784], 1);
    draw_grid("gan-interp", &pixels[(GRID + 1) * 784..], STRIP);
    SAMPLES.with(|s| *s.borrow_mut() = pixels[..GRID * 784].to_vec());
    g.drawn.update(|d| *d += 1);
}

/// Digits (784 values in [0, 1] each) tiled `columns` wide with a 1-pixel gap, on the canvas `id`.
pub(super) fn draw_grid(id: &str, pixels: &[f32], columns: usize) {
    let n = pixels.len() / 784;
    let rows = n.div_ceil(columns);
    let (w, h) = (columns * 29 + 1, rows * 29 + 1);
    put_image(id, h, w, |i| {
        let (y, x) = (i / w, i % w);
        if y % 29 == 0 || x % 29 == 0 {
            return [40, 44, 52];
        }
        let k = (y / 29) * columns + x / 29;
        let v = pixels.get(k * 784 + (y % 29 - 1) * 28 + (x % 29 - 1)).copied().unwrap_or(0.0);
        let p = (v.clamp(0.0, 1.0) * 255.0) as u8;
        [p, p, p]
    });
}

/// The D(x) and D(G(z)) histograms of the last batch.
pub(super) fn draw_histograms(real: &[f64], fake: &[f64]) {
    let Some((c, ctx)) = canvas("gan-hist") else { return };
    let (w, h) = (c.width() as f64, c.height() as f64);
    ctx.clear_rect(0.0, 0.0, w, h);
    let bins = |v: &[f64]| {
        let mut b = [0usize; BINS];
        for x in v {
            b[((x * BINS as f64) as usize).min(BINS - 1)] += 1;
        }
        b
    };
    let (r, f) = (bins(real), bins(fake));
    let top = r.iter().chain(&f).copied().max().unwrap_or(1).max(1) as f64;
    let bw = w / BINS as f64;
    for (k, (a, b)) in r.iter().zip(&f).enumerate() {
        ctx.set_fill_style_str("rgba(249, 115, 22, 0.75)"); // D(x): orange
        let ha = *a as f64 / top * (h - 14.0);
        ctx.fill_rect(k as f64 * bw + 1.0, h - 12.0 - ha, bw / 2.0 - 1.0, ha);
        ctx.set_fill_style_str("rgba(59, 130, 246, 0.8)"); // D(G(z)): blue
        let hb = *b as f64 / top * (h - 14.0);
        ctx.fill_rect(k as f64 * bw + bw / 2.0, h - 12.0 - hb, bw / 2.0 - 1.0, hb);
    }
    ctx.set_fill_style_str("#888");
    ctx.set_font("10px sans-serif");
    let _ = ctx.fill_text("0", 1.0, h - 1.0);
    let _ = ctx.fill_text("0.5", w / 2.0 - 7.0, h - 1.0);
    let _ = ctx.fill_text("1", w - 7.0, h - 1.0);
}
