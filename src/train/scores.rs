//! How good a binary classifier is, and for whom: the confusion matrix at a threshold, the ROC
//! curve and its area, and the fairness report over the groups of a sensitive column.
//!
//! Definitions (the ones Fairlearn uses, and the page states them):
//! - *selection rate* (positive rate) of a group: the share of its rows predicted positive;
//! - *TPR* = TP / (TP + FN), *FPR* = FP / (FP + TN) within the group (undefined, and left out of
//!   the differences, when the group has no positive or no negative row);
//! - *demographic-parity difference*: the largest selection rate minus the smallest;
//! - *equalized-odds difference*: the larger of the TPR difference and the FPR difference
//!   (each the largest minus the smallest over the groups);
//! - essay 003's fairness score: the mean of the per-group accuracies.
//!
//! The AUC is the area under the ROC curve with ties between scores joined by a straight segment
//! — the probability that a random positive scores above a random negative, ties counting half
//! (scikit-learn's `roc_auc_score`).

use serde::Serialize;

/// A group with fewer test rows than this is flagged as unreliable: its accuracy is then known
/// to within about ±7 points at best (one standard error of a proportion near ½ is ½/√50).
pub const MIN_RELIABLE_GROUP: usize = 50;

/// Counts of a binary prediction against the truth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// Positive rows predicted positive.
    pub tp: usize,
    /// Negative rows predicted positive.
    pub fp: usize,
    /// Negative rows predicted negative.
    pub tn: usize,
    /// Positive rows predicted negative.
    #[serde(rename = "fn")]
    pub fn_: usize,
}

impl Confusion {
    /// Counts rows (`p`: predicted P(positive), `y`: 1 for positive) predicted positive at
    /// `p ≥ threshold`.
    pub fn of(p: &[f32], y: &[f32], threshold: f32) -> Self {
        let mut c = Confusion::default();
        for (&p, &y) in p.iter().zip(y) {
            c.add(p >= threshold, y > 0.5);
        }
        c
    }

    fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }

    /// Rows counted.
    pub fn total(&self) -> usize {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// Share predicted correctly.
    pub fn accuracy(&self) -> f64 {
        (self.tp + self.tn) as f64 / self.total().max(1) as f64
    }

    /// Share predicted positive.
    pub fn selection_rate(&self) -> f64 {
        (self.tp + self.fp) as f64 / self.total().max(1) as f64
    }

    /// TP / (TP + FN), if there are positive rows.
    pub fn tpr(&self) -> Option<f64> {
        let p = self.tp + self.fn_;
        (p > 0).then(|| self.tp as f64 / p as f64)
    }

    /// FP / (FP + TN), if there are negative rows.
    pub fn fpr(&self) -> Option<f64> {
        let n = self.fp + self.tn;
        (n > 0).then(|| self.fp as f64 / n as f64)
    }
}

/// The ROC curve: `(FPR, TPR)` points from `(0, 0)` to `(1, 1)`, one per distinct score
/// (highest first). Empty when either class is absent.
pub fn roc_curve(p: &[f32], y: &[f32]) -> Vec<(f64, f64)> {
    let positives = y.iter().filter(|&&y| y > 0.5).count();
    let negatives = y.len() - positives;
    if positives == 0 || negatives == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0usize, 0usize);
    for (k, &i) in order.iter().enumerate() {
        if y[i] > 0.5 { tp += 1 } else { fp += 1 }
        // A point after the last row of each run of equal scores.
        if order.get(k + 1).is_none_or(|&j| p[j] != p[i]) {
            points.push((fp as f64 / negatives as f64, tp as f64 / positives as f64));
        }
    }
    points
}

/// The area under [`roc_curve`] (trapezoids); `None` when either class is absent.
pub fn auc(p: &[f32], y: &[f32]) -> Option<f64> {
    let curve = roc_curve(p, y);
    (!curve.is_empty()).then(|| curve.windows(2).map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0).sum())
}

/// One group's row of the fairness report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupReport {
    /// The sensitive column's value.
    pub group: String,
    /// Test rows in the group.
    pub count: usize,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// Share predicted positive (the selection rate).
    pub positive_rate: f64,
    /// True-positive rate (`None`: no positive rows).
    pub tpr: Option<f64>,
    /// False-positive rate (`None`: no negative rows).
    pub fpr: Option<f64>,
    /// Fewer than [`MIN_RELIABLE_GROUP`] rows.
    pub unreliable: bool,
}

/// The fairness report over the groups of a sensitive column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fairness {
    /// Per group, in the order of the group names given.
    pub groups: Vec<GroupReport>,
    /// Essay 003's score: the mean of the per-group accuracies.
    pub mean_group_accuracy: f64,
    /// Largest minus smallest selection rate.
    pub demographic_parity_difference: f64,
    /// The larger of the TPR and FPR differences (largest minus smallest, over the groups where
    /// each is defined).
    pub equalized_odds_difference: f64,
}

/// The report for predictions `p` of rows with truth `y` in groups `group` (indices into
/// `names`), at `threshold`. Groups without test rows are left out.
pub fn fairness(p: &[f32], y: &[f32], group: &[u32], names: &[String], threshold: f32) -> Fairness {
    let mut counts = vec![Confusion::default(); names.len()];
    for ((&p, &y), &g) in p.iter().zip(y).zip(group) {
        if let Some(c) = counts.get_mut(g as usize) {
            c.add(p >= threshold, y > 0.5);
        }
    }
    let groups: Vec<GroupReport> = names
        .iter()
        .zip(&counts)
        .filter(|(_, c)| c.total() > 0)
        .map(|(name, c)| GroupReport {
            group: name.clone(),
            count: c.total(),
            accuracy: c.accuracy(),
            positive_rate: c.selection_rate(),
            tpr: c.tpr(),
            fpr: c.fpr(),
            unreliable: c.total() < MIN_RELIABLE_GROUP,
        })
        .collect();
    let spread = |values: Vec<f64>| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if values.is_empty() { 0.0 } else { hi - lo }
    };
    let mean_group_accuracy = groups.iter().map(|g| g.accuracy).sum::<f64>() / groups.len().max(1) as f64;
    let demographic_parity_difference = spread(groups.iter().map(|g| g.positive_rate).collect());
    let equalized_odds_difference =
        spread(groups.iter().filter_map(|g| g.tpr).collect()).max(spread(groups.iter().filter_map(|g| g.fpr).collect()));
    Fairness { groups, mean_group_accuracy, demographic_parity_difference, equalized_odds_difference }
}

/// Binary cross-entropy of probabilities `p` against `y` (mean; `p` clamped to [1e-7, 1 − 1e-7]
/// as Keras does).
pub fn log_loss(p: &[f32], y: &[f32]) -> f64 {
    let total: f64 = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| {
            let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
            -(y as f64 * libm::log(p) + (1.0 - y as f64) * libm::log(1.0 - p))
        })
        .sum();
    total / p.len().max(1) as f64
}
