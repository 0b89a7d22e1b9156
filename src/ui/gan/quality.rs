//! The GAN page's quality panel: the inception score of the grid's 64 samples with the shipped
//! `cnn-tuned` classifier (downloaded once), the classes covered, and the MSE and SSIM of each
//! sample to its nearest training digit, searched among all 60,000 in slices between frames.

use super::*;

/// Training images compared per slice of the nearest-neighbour search.
const SEARCH_SLICE: usize = 400;

/// The quality measures of one sample, at one step.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Quality {
    step: u64,
    score: f64,
    modes: usize,
    counts: [usize; 10],
    mse: f64,
    ssim: f64,
}

/// The quality measures of the grid's samples: the classifier (downloaded once) for the
/// inception score, and the nearest training digit of each sample, searched in slices.
pub(super) async fn measure(g: GanUi) {
    if g.measuring.get_untracked().is_some() {
        return;
    }
    let samples = SAMPLES.with(|s| s.borrow().clone());
    let Some(data) = super::super::digits::loaded(ImageDataset::Mnist) else { return };
    if samples.is_empty() {
        return;
    }
    let step = g.log.with_untracked(|l| l.counts().0);
    let resets = g.resets.get_untracked();
    g.measuring.set(Some(0.0));
    let result = async {
        let classifier = match CLASSIFIER.with(|c| c.borrow().clone()) {
            Some(c) => c,
            None => {
                let bytes = fetch_file("weights/cnn-tuned.safetensors", |_, _| {}).await?;
                let c = Rc::new(crate::share::weights::load_classifier(&bytes, &cpu()?).map_err(|e| format!("the classifier's weights: {e}"))?);
                CLASSIFIER.with(|slot| *slot.borrow_mut() = Some(c.clone()));
                c
            }
        };
        let probs = read_many(vec![classifier.probabilities(&samples)]).await.map_err(|e| e.to_string())?.remove(0);
        let inception = inception_score(&probs);
        let near = nearest(g, &samples, &data).await;
        let (mse, ssim) = near.means();
        Ok::<_, String>(Quality { step, score: inception.score, modes: inception.modes, counts: inception.class_counts, mse, ssim })
    }
    .await;
    g.measuring.set(None);
    match result {
        // Not after a reset: these samples are of the old networks.
        Ok(_) if g.resets.get_untracked() != resets => {}
        Ok(q) => g.quality.set(Some(q)),
        Err(why) => g.note.set(Some(format!("could not measure: {why}"))),
    }
}

async fn nearest(g: GanUi, samples: &[f32], data: &ImageData) -> crate::train::quality::Nearest {
    let mut search = NearestSearch::new(samples.to_vec());
    loop {
        let start = now_ms();
        let mut done = false;
        while !done && now_ms() - start < 12.0 {
            done = search.advance(&data.train, SEARCH_SLICE / 8);
        }
        g.measuring.set(Some(search.progress(&data.train)));
        if done {
            break;
        }
        sleep(0).await;
    }
    search.finish(&data.train)
}


/// The quality panel: measure, the scores, the class histogram.
#[component]
pub(super) fn QualityPanel(g: GanUi) -> impl IntoView {
    let ready = move || matches!(g.run.get(), Run::Ready | Run::Playing);
    view! {
    <section class="panel gan-quality">
        <h2>"Quality " <span class="sub">"of the grid's 64 samples"</span></h2>
        <button data-testid="gan-measure" disabled=move || g.measuring.get().is_some() || !ready() on:click=move |_| spawn_local(measure(g))>"measure"</button>
        {move || g.measuring.get().map(|p| view! { <progress max="1" prop:value=p></progress><span class="hint">" nearest training digits…"</span> })}
        <div class="gan-readouts">
            <div><span class="k">"inception score"</span><span data-testid="gan-is">{move || g.quality.get().map_or("—".into(), |q| format!("{:.2}", q.score))}</span></div>
            <div><span class="k">"classes covered"</span><span data-testid="gan-modes">{move || g.quality.get().map_or("—".into(), |q| format!("{} of 10", q.modes))}</span></div>
            <div><span class="k">"MSE to nearest"</span><span data-testid="gan-mse">{move || g.quality.get().map_or("—".into(), |q| format!("{:.4}", q.mse))}</span></div>
            <div><span class="k">"SSIM to nearest"</span><span data-testid="gan-ssim">{move || g.quality.get().map_or("—".into(), |q| format!("{:.3}", q.ssim))}</span></div>
        </div>
        {move || g.quality.get().map(|q| {
            let top = q.counts.iter().copied().max().unwrap_or(1).max(1) as f64;
            view! {
                <div class="class-bars" data-testid="gan-classes">
                    {q.counts.iter().enumerate().map(|(k, &c)| view! {
                        <div class="bar-col" title=format!("{c} samples read as {k}")>
                            <div class="bar" style=format!("height:{:.0}px", 4.0 + 56.0 * c as f64 / top)></div>
                            <span>{k.to_string()}</span>
                        </div>
                    }).collect_view()}
                </div>
                <p class="hint">{format!("measured at step {}", q.step)}</p>
            }
        })}
        <p class="hint">"Inception score: exp(E KL(p(y|x) ‖ p(y))) with the class probabilities of the cnn-tuned model (98.5% on MNIST's test set) standing in for Inception-v3, the usual MNIST practice: 1 is one digit or none, 10 is ten digits, each clear. MSE and SSIM (7 × 7 windows) compare each sample with its nearest training digit, searched among all 60,000: low MSE with high SSIM means close to real digits — or copied."</p>
    </section>
    }
}
