//! Percentiles and medians of measured durations.

use std::time::Duration;

/// The `p`-th percentile (0..=100, nearest rank) of `values` in milliseconds; 0 when empty.
pub fn percentile_ms(values: &mut [Duration], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    let i = rank.clamp(1, values.len()) - 1;
    ms(values[i])
}

/// Milliseconds as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median of `values` in milliseconds; 0 when empty.
pub fn median_ms(values: &mut [Duration]) -> f64 {
    percentile_ms(values, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&mut v, 50.0), 50.0);
        assert_eq!(percentile_ms(&mut v, 99.0), 99.0);
        assert_eq!(percentile_ms(&mut v, 100.0), 100.0);
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(percentile_ms(&mut one, 99.0), 7.0);
        assert_eq!(percentile_ms(&mut [], 50.0), 0.0);
    }
}
