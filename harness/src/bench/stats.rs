//! Medians and spreads of repeated measurements, and paired ratios.
//!
//! One wrk run on this 2-core machine swings by ±30%: the bench measures
//! each subject several times, interleaved with the others, and judges only
//! medians. A ratio is taken within one repetition (the subject against
//! the anchor measured a few seconds earlier or later in the same round),
//! then the median of those ratios is reported: pairing cancels the slow
//! drifts of a shared machine that a ratio of two overall medians keeps.

/// The median of a set of numbers and how far they spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The middle value (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub count: usize,
}

impl Summary {
    /// Summarises `values`, leaving out NaNs; `None` when nothing is left.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            count: n,
        })
    }

    /// The range relative to the median: `(max − min) / median`, as a
    /// fraction (0.1 = the values span 10% of the median).
    pub fn spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median
        }
    }
}

/// Ratios of `subject` to `anchor`, repetition by repetition; a
/// repetition where either is missing (failed) or the anchor is zero is
/// left out.
pub fn paired_ratios(subject: &[Option<f64>], anchor: &[Option<f64>]) -> Vec<f64> {
    subject
        .iter()
        .zip(anchor)
        .filter_map(|(s, a)| match (s, a) {
            (Some(s), Some(a)) if *a > 0.0 => Some(s / a),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).expect("three values");
        assert_eq!((s.median, s.min, s.max, s.count), (3.0, 1.0, 5.0, 3));
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).expect("four values");
        assert!((s.median - 2.5).abs() < 1e-9, "{}", s.median);
        assert_eq!(Summary::of(&[7.0]).map(|s| s.median), Some(7.0));
    }

    #[test]
    fn nothing_to_summarise() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[f64::NAN]), None);
        assert_eq!(Summary::of(&[f64::NAN, 2.0]).map(|s| s.count), Some(1));
    }

    #[test]
    fn spread_is_the_range_over_the_median() {
        let s = Summary::of(&[90.0, 100.0, 120.0]).expect("values");
        assert!((s.spread() - 0.3).abs() < 1e-9, "{}", s.spread());
        assert_eq!(Summary::of(&[0.0, 0.0]).map(|s| s.spread()), Some(0.0));
    }

    #[test]
    fn a_median_is_robust_to_one_outlier() {
        let s = Summary::of(&[100.0, 101.0, 99.0, 10.0, 100.5]).expect("values");
        assert!((s.median - 100.0).abs() < 1e-9, "{}", s.median);
    }

    #[test]
    fn ratios_pair_repetitions_and_skip_failures() {
        let subject = [Some(60.0), None, Some(30.0), Some(10.0)];
        let anchor = [Some(40.0), Some(50.0), Some(20.0), Some(0.0)];
        assert_eq!(paired_ratios(&subject, &anchor), vec![1.5, 1.5]);
        assert!(paired_ratios(&[Some(1.0)], &[None]).is_empty());
    }
}
