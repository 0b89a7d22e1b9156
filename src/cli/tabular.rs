//! A user's table on the command line: `gradlab train --csv FILE --target COL …` runs the tabular
//! page's pipeline (prepare, train essay 003's network and the logistic baseline beside it,
//! score, fairness report) with the same schema and seed, so its numbers are the page's.

use clap::{Arg, ArgMatches, Command};

use super::{CliError, value};
use crate::data::table::{MAX_CSV_BYTES, Table};
use crate::train::tabular::{EpochRecord, Report, TABULAR_SETTINGS, TabularConfig, TabularTrainer, apply_tabular_settings};

/// Flags only a tabular run takes (with `--csv`), and the schema keys they set.
pub(super) const TABULAR_ONLY: [(&str, &str); 8] = [
    ("categorical", "tab.categorical"),
    ("target", "tab.target"),
    ("positive", "tab.positive"),
    ("sensitive", "tab.sensitive"),
    ("sensitive-feature", "tab.sensitive_feature"),
    ("missing", "tab.missing"),
    ("products", "tab.products"),
    ("test-share", "tab.test"),
];

/// Flags of a tabular run that are not settings (what follows training), refused without `--csv`.
pub(super) const TABULAR_EXTRA: [&str; 7] = ["search", "prune", "prune-scope", "fine-tune", "quantize", "save-int8", "save-data"];

/// Flags the tabular run shares with the other experiments: clap id → schema key.
const SHARED: [(&str, &str); 9] = [
    ("features", "tab.features"),
    ("layers", "tab.layers"),
    ("dropout", "tab.dropout"),
    ("opt", "tab.opt"),
    ("lr", "tab.lr"),
    ("batch", "tab.batch"),
    ("epochs", "tab.epochs"),
    ("reg", "tab.reg"),
    ("regrate", "tab.regrate"),
];

/// The `--csv` argument and the tabular-only flags of `train`.
pub(super) fn train_args(train: Command) -> Command {
    let field = |key: &str| TABULAR_SETTINGS.iter().find(|s| s.key == key).expect("a tabular schema key");
    let mut train = train.next_help_heading("Your own table (with --csv; --features, --layers, --dropout, --reg, --reg-rate, --optimizer, --lr, --batch, --epochs and --seed apply too, with the tabular defaults)").arg(
        Arg::new("csv").long("csv").value_name("FILE").help(
            "train essay 003's classifier (Dense 128 ReLU → Dropout 0.5 → Dense 1 sigmoid, Adam, BCE, batch 32, 10 epochs) and a logistic baseline on a CSV file (.csv or .csv.gz); \
             Adult: --csv target/data/adult.csv.gz --positive '>50K' --sensitive sex --products 'age*hours_per_week'",
        ),
    );
    train = train.arg(Arg::new("save-data").long("save-data").value_name("FILE").help(
        "write the prepared splits (x_train, y_train, x_test, y_test, group_test; f32) as safetensors, for a reference run elsewhere (tests/python/tabular_sklearn.py)",
    ));
    train = train
        .arg(Arg::new("search").long("search").value_name("SPEC").help(format!(
            "after training, a hyper-parameter search on a validation split carved from the training split: MODE,TRIALS,EPOCHS,SETTING=lo..hi|a|b…, or 'default' ({})",
            crate::train::search::DEFAULT_SPEC
        )))
        .arg(Arg::new("prune").long("prune").value_name("SPARSITY").help("after training, prune the network to this share of zero weights (0 to 0.999; the page's default 0.8)"))
        .arg(Arg::new("prune-scope").long("prune-scope").value_name("global|layer").help("prune over all layers together, or each alike [default: global]"))
        .arg(Arg::new("fine-tune").long("fine-tune").value_name("EPOCHS").help("epochs of fine-tuning with the pruning mask held [default: 3 with --prune]"))
        .arg(Arg::new("quantize").long("quantize").value_name("channel|tensor").help("after pruning, quantize the weights to int8 with a scale per output unit or per matrix"))
        .arg(Arg::new("save-int8").long("save-int8").value_name("FILE").help("write the quantized network as safetensors (i8 weights, f32 scales and biases)"));
    for (id, key) in TABULAR_ONLY {
        let f = field(key);
        let default = if f.default.is_empty() { String::new() } else { format!(" [default: {}]", f.default) };
        train = train.arg(Arg::new(id).long(id).value_name("VALUE").allow_hyphen_values(true).help(format!("{}{default}", f.expected)));
    }
    train
}

/// Reads a CSV file, unzipping a `.gz` one, within the size the page accepts.
fn read_csv(path: &str) -> Result<Vec<u8>, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::Data(format!("--csv {path}: {e}")))?;
    if !path.ends_with(".gz") {
        return Ok(bytes);
    }
    // One byte past the limit, so the parser names the size it refuses.
    crate::data::gunzip(&bytes, MAX_CSV_BYTES as u64 + 1).map_err(|e| CliError::Data(format!("{path}: not readable gzip ({e})")))
}

/// `gradlab train --csv FILE …`.
pub(super) fn train(m: &ArgMatches) -> Result<(), CliError> {
    let path = value(m, "csv").expect("called with --csv");
    // Every other experiment's flag is refused by name.
    let mut refused: Vec<(&str, &str)> = super::SETTING_FLAGS.iter().map(|&(flag, key)| (key, flag)).collect();
    refused.extend(super::IMAGE_FLAGS.iter().map(|&(flag, _, _)| (&flag[2..], flag)));
    refused.extend(super::gan::GAN_ONLY.iter().map(|&id| (id, id)));
    refused.extend([("steps", "--steps"), ("eval-every", "--eval-every"), ("save", "--save"), ("backend", "--backend")]);
    for (id, flag) in refused {
        let allowed = SHARED.iter().any(|(s, _)| *s == id) || id == "seed";
        if !allowed && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            let flag = if flag.starts_with("--") { flag.to_string() } else { format!("--{flag}") };
            return Err(CliError::Setting { flag, message: "does not apply to a table (--csv); see gradlab train --help".into() });
        }
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let flags = TABULAR_ONLY.iter().chain(&SHARED).chain(&[("seed", "tab.seed")]);
    for (id, key) in flags.clone() {
        if let Some(v) = value(m, id) {
            pairs.push((key.to_string(), v.to_string()));
        }
    }
    let mut config = TabularConfig::default();
    apply_tabular_settings(&mut config, &pairs).map_err(|e| {
        let flag = flags.clone().find(|(_, k)| *k == e.setting).map_or(e.setting.clone(), |(id, _)| format!("--{id}"));
        CliError::Setting { flag, message: e.message }
    })?;
    let table = Table::parse(&read_csv(path)?).map_err(|e| CliError::Data(format!("{path}: {e}")))?;
    let json = m.get_flag("json");
    let mut model = TabularTrainer::new(config.clone(), &table).map_err(|e| CliError::Data(format!("{path}: {e}")))?;
    let d = &model.data;
    if json {
        out!(
            "{}",
            serde_json::json!({
                "rows": table.rows(), "dropped": d.dropped, "imputed": d.imputed, "train": d.train.len(), "test": d.test.len(),
                "inputs": d.width(), "positive": d.classes[0], "negative": d.classes[1], "groups": d.groups,
            })
        );
    } else {
        out!(
            "{} rows, {} dropped, {} imputed; train {} / test {} (stratified); {} inputs; positive class '{}'",
            table.rows(),
            d.dropped,
            d.imputed,
            d.train.len(),
            d.test.len(),
            d.width(),
            d.classes[0]
        );
    }
    if let Some(file) = value(m, "save-data") {
        save_data(&model.data, file)?;
    }
    let mut shown = 0;
    while !model.finished() {
        model.advance();
        if model.history.len() > shown {
            shown = model.history.len();
            epoch_line(&model.history[shown - 1], json)?;
        }
    }
    let report = model.report();
    let mut baseline = TabularTrainer::on(config.baseline(), std::sync::Arc::clone(&model.data));
    baseline.train_to_end();
    let base = baseline.report();
    let mut extra = serde_json::Map::new();
    if let Some(c) = compress(m, &model, json)? {
        extra.insert("compressed".into(), c);
    }
    if let Some(spec) = value(m, "search") {
        let spec = if spec == "default" { crate::train::search::DEFAULT_SPEC } else { spec };
        let spec = crate::train::search::SearchSpec::decode(spec).map_err(|message| CliError::Setting { flag: "--search".into(), message })?;
        let mut search = crate::train::search::Search::new(spec, &config, &model.data);
        search.run();
        for t in &search.trials {
            if json {
                out!("{}", serde_json::json!({ "trial": t.number, "values": t.values, "validation_accuracy": t.accuracy, "validation_auc": t.auc }));
            } else {
                out!("trial {:>3}  {}  validation accuracy {:.2}%  AUC {:.4}", t.number, search.spec.params.iter().zip(&t.values).map(|((p, _), v)| format!("{}={v}", p.key())).collect::<Vec<_>>().join(" "), 100.0 * t.accuracy, t.auc);
            }
        }
        let best = search.best().cloned();
        extra.insert("search".into(), serde_json::json!({ "spec": search.spec.encode(), "best": best, "validation_rows": search.split_sizes().1 }));
    }
    final_report(&report, &base, extra, json)
}

/// `--prune`, `--fine-tune`, `--quantize`, `--save-int8`: the page's compression panel, on a copy
/// of the trained network. `None` without those flags.
fn compress(m: &ArgMatches, model: &TabularTrainer, json: bool) -> Result<Option<serde_json::Value>, CliError> {
    use crate::train::compress::{Granularity, Scope, sparsity};
    let prune: Option<f64> = value(m, "prune").map(|v| super::number::<f64>("--prune", v, "a share from 0 to 0.999")).transpose()?;
    if prune.is_some_and(|s| !(0.0..1.0).contains(&s)) {
        return Err(super::bad("--prune", value(m, "prune").unwrap_or_default(), "a share from 0 to 0.999"));
    }
    let scope = match value(m, "prune-scope").unwrap_or("global") {
        "global" => Scope::Global,
        "layer" => Scope::PerLayer,
        v => return Err(super::bad("--prune-scope", v, "global or layer")),
    };
    let fine_tune: usize = match value(m, "fine-tune") {
        Some(v) => super::number("--fine-tune", v, "a whole number of epochs")?,
        None => if prune.is_some() { 3 } else { 0 },
    };
    let quantize = match value(m, "quantize") {
        None => None,
        Some("channel") => Some(Granularity::PerChannel),
        Some("tensor") => Some(Granularity::PerTensor),
        Some(v) => return Err(super::bad("--quantize", v, "channel or tensor")),
    };
    if value(m, "save-int8").is_some() && quantize.is_none() {
        return Err(CliError::Setting { flag: "--save-int8".into(), message: "needs --quantize channel or tensor".into() });
    }
    if prune.is_none() && quantize.is_none() {
        return Ok(None);
    }
    let mut c = model.clone();
    c.prune(prune.unwrap_or(0.0), scope, fine_tune);
    c.train_to_end();
    let mut scales = None;
    if let Some(g) = quantize {
        let q = c.quantize(g);
        scales = Some(q.iter().map(|q| q.scales.len()).sum());
        if let Some(file) = value(m, "save-int8") {
            let bytes = crate::share::weights::tabular_int8(&c, &q).map_err(|e| CliError::Data(format!("--save-int8: {e}")))?;
            std::fs::write(file, bytes).map_err(|e| CliError::Data(format!("--save-int8 {file}: {e}")))?;
        }
    }
    let r = c.report();
    let share = sparsity(&c.weights());
    let bytes = c.stored_bytes(scales);
    if !json {
        out!("compressed: {:.1}% zero weights{}: test accuracy {:.2}%, AUC {:.4}, {bytes} bytes", 100.0 * share, if quantize.is_some() { ", int8" } else { "" }, 100.0 * r.test_accuracy, r.auc);
    }
    Ok(Some(serde_json::json!({ "test_accuracy": r.test_accuracy, "auc": r.auc, "sparsity": share, "bytes": bytes, "fine_tune_epochs": fine_tune })))
}

/// The prepared splits as safetensors.
fn save_data(d: &crate::data::tabular::Prepared, file: &str) -> Result<(), CliError> {
    use crate::engine::Shape;
    use crate::share::weights::{StateDict, state_dict_to_safetensors};
    let (w, n, t) = (d.width(), d.train.len(), d.test.len());
    let groups = |g: &[u32]| g.iter().map(|&g| g as f32).collect::<Vec<_>>();
    let dict = StateDict {
        tensors: vec![
            ("x_train".into(), Shape::from([n, w]), d.train.x.clone()),
            ("y_train".into(), Shape::from([n]), d.train.y.clone()),
            ("x_test".into(), Shape::from([t, w]), d.test.x.clone()),
            ("y_test".into(), Shape::from([t]), d.test.y.clone()),
            ("group_test".into(), Shape::from([t]), groups(&d.test.group)),
        ],
        counts: Vec::new(),
    };
    let groups = serde_json::to_string(&d.groups).expect("strings");
    let bytes = state_dict_to_safetensors(&dict, &[("groups", &groups), ("positive", &d.classes[0])]).map_err(|e| CliError::Data(format!("--save-data: {e}")))?;
    std::fs::write(file, bytes).map_err(|e| CliError::Data(format!("--save-data {file}: {e}")))
}

fn epoch_line(e: &EpochRecord, json: bool) -> Result<(), CliError> {
    if json {
        out!("{}", serde_json::to_string(e).expect("plain numbers"));
    } else {
        out!("epoch {:>3}  train loss {:.4}  test loss {:.4}  test accuracy {:.2}%  AUC {:.4}", e.epoch, e.train_loss, e.test_loss, 100.0 * e.test_accuracy, e.auc);
    }
    Ok(())
}

fn final_report(r: &Report, base: &Report, extra: serde_json::Map<String, serde_json::Value>, json: bool) -> Result<(), CliError> {
    if json {
        let mut doc = serde_json::json!({
            "test_accuracy": r.test_accuracy,
            "auc": r.auc,
            "test_loss": r.test_loss,
            "confusion": r.confusion,
            "groups": r.fairness.groups,
            "mean_group_accuracy": r.fairness.mean_group_accuracy,
            "demographic_parity_difference": r.fairness.demographic_parity_difference,
            "equalized_odds_difference": r.fairness.equalized_odds_difference,
            "baseline": { "test_accuracy": base.test_accuracy, "auc": base.auc, "groups": base.fairness.groups },
        });
        doc.as_object_mut().expect("an object").extend(extra);
        out!("{doc}");
        return Ok(());
    }
    out!("test accuracy {:.2}%  AUC {:.4}   (logistic baseline: {:.2}%, AUC {:.4})", 100.0 * r.test_accuracy, r.auc, 100.0 * base.test_accuracy, base.auc);
    let c = &r.confusion;
    out!("confusion at 0.5: TP {}  FP {}  TN {}  FN {}", c.tp, c.fp, c.tn, c.fn_);
    out!("{:<24} {:>6} {:>9} {:>9} {:>7} {:>7}", "group", "count", "accuracy", "positive", "TPR", "FPR");
    let rate = |x: Option<f64>| x.map_or("—".to_string(), |x| format!("{:.3}", x));
    for g in &r.fairness.groups {
        let flag = if g.unreliable { "  (few rows: unreliable)" } else { "" };
        out!("{:<24} {:>6} {:>9.4} {:>9.4} {:>7} {:>7}{flag}", g.group, g.count, g.accuracy, g.positive_rate, rate(g.tpr), rate(g.fpr));
    }
    let f = &r.fairness;
    out!(
        "mean of per-group accuracies {:.4}; demographic-parity difference {:.4}; equalized-odds difference {:.4}",
        f.mean_group_accuracy,
        f.demographic_parity_difference,
        f.equalized_odds_difference
    );
    Ok(())
}
