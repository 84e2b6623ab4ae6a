//! Latency and faults: the grammars of `--delay` and `--fail` (also of a
//! route's `delay`/`fail` and an operation's `x-berth-delay`/`x-berth-fail`),
//! and drawing from them per request.
//!
//! - delay: `50ms`, `1.5s`; `20ms..200ms` (uniform); `lognormal:MEDIAN:P99`
//!   (most answers near the median, one in a hundred past p99: a real
//!   service's long tail).
//! - fail: `RATE:KIND`, RATE a percentage (`5%`, `0.5%`) and KIND a status
//!   (`500`, `503`), `reset` (RST, no answer), `empty` (closed without an
//!   answer) or `stall` (half the body, then silence). Several rules add
//!   up; together they may not pass 100%.

use std::time::Duration;

use rand::{Rng, RngExt};

/// Longest pause berth takes: past it a client has long given up.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq)]
pub enum Delay {
    Fixed(Duration),
    Uniform(Duration, Duration),
    /// The log-normal whose median and 99th percentile these are.
    LogNormal {
        median: Duration,
        p99: Duration,
    },
}

impl Delay {
    pub fn parse(text: &str) -> Result<Delay, String> {
        let text = text.trim();
        let bad = |why: &str| {
            format!(
                "invalid delay '{text}': {why}; write 50ms, 20ms..200ms or lognormal:MEDIAN:P99 (lognormal:40ms:400ms)"
            )
        };
        if let Some(rest) = text.strip_prefix("lognormal:") {
            let (median, p99) = rest.split_once(':').ok_or_else(|| bad("a log-normal needs a median and a p99"))?;
            let (median, p99) = (duration(median).map_err(|e| bad(&e))?, duration(p99).map_err(|e| bad(&e))?);
            if median.is_zero() || p99 < median {
                return Err(bad("the median must be above zero and the p99 at least the median"));
            }
            return Ok(Delay::LogNormal { median, p99 });
        }
        if let Some((low, high)) = text.split_once("..") {
            let (low, high) = (duration(low).map_err(|e| bad(&e))?, duration(high).map_err(|e| bad(&e))?);
            if high < low {
                return Err(bad("the range's end is before its start"));
            }
            return Ok(Delay::Uniform(low, high));
        }
        duration(text).map(Delay::Fixed).map_err(|e| bad(&e))
    }

    /// One pause, never past [`MAX_DELAY`].
    pub fn draw(&self, rng: &mut impl Rng) -> Duration {
        let pause = match *self {
            Delay::Fixed(pause) => pause,
            Delay::Uniform(low, high) if high > low => {
                low + Duration::from_nanos(rng.random_range(0..=(high - low).as_nanos().min(u64::MAX as u128) as u64))
            }
            Delay::Uniform(low, _) => low,
            Delay::LogNormal { median, p99 } => {
                // ln(X) ~ N(mu, sigma): mu = ln(median), and p99 sits 2.326
                // standard deviations above (the normal's 99th percentile).
                let mu = median.as_secs_f64().ln();
                let sigma = (p99.as_secs_f64().ln() - mu) / 2.326_347_874;
                let z = standard_normal(rng);
                Duration::try_from_secs_f64((mu + sigma * z).exp()).unwrap_or(MAX_DELAY)
            }
        };
        pause.min(MAX_DELAY)
    }
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `50ms`, `2s`, `1s 500ms`, `0`: humantime's units, as every other
/// duration berth reads; within [`MAX_DELAY`].
fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let pause = humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration ({e})"))?;
    if pause > MAX_DELAY {
        return Err(format!("'{text}' is longer than {}s, the most berth waits", MAX_DELAY.as_secs()));
    }
    Ok(pause)
}

/// What an injected failure does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// An error answer with this status.
    Status(u16),
    Reset,
    Empty,
    Stall,
}

impl FaultKind {
    /// The word the journal and the log use.
    pub fn word(self) -> String {
        match self {
            FaultKind::Status(status) => format!("status {status}"),
            FaultKind::Reset => "reset".into(),
            FaultKind::Empty => "empty".into(),
            FaultKind::Stall => "stall".into(),
        }
    }
}

/// `RATE:KIND` rules, drawn together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailRules {
    /// Each rule's probability (0..=1) and kind.
    rules: Vec<(f64, FaultKind)>,
}

impl FailRules {
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<FailRules, String> {
        let mut rules = Vec::new();
        for text in texts {
            let text = text.as_ref().trim();
            let bad = |why: &str| {
                format!("invalid fault '{text}': {why}; write RATE:KIND, as 5%:500, 1%:reset, 2%:empty or 0.5%:stall")
            };
            let (rate, kind) = text.split_once(':').ok_or_else(|| bad("no ':' between the rate and the kind"))?;
            let rate = rate.trim().strip_suffix('%').ok_or_else(|| bad("the rate is a percentage (5%)"))?;
            let rate: f64 = rate.trim().parse().map_err(|_| bad("the rate is not a number"))?;
            if !(0.0..=100.0).contains(&rate) {
                return Err(bad("the rate is not between 0% and 100%"));
            }
            let kind = match kind.trim() {
                "reset" => FaultKind::Reset,
                "empty" => FaultKind::Empty,
                "stall" => FaultKind::Stall,
                status => match status.parse::<u16>() {
                    Ok(status) if (100..=599).contains(&status) => FaultKind::Status(status),
                    _ => return Err(bad("the kind is a status (100-599), reset, empty or stall")),
                },
            };
            rules.push((rate / 100.0, kind));
        }
        let total: f64 = rules.iter().map(|(rate, _)| rate).sum();
        if total > 1.0 + 1e-9 {
            return Err(format!("the fault rates add up to {:.1}%, more than 100%", total * 100.0));
        }
        Ok(FailRules { rules })
    }

    /// The fault for this request, if one is drawn.
    pub fn draw(&self, rng: &mut impl Rng) -> Option<FaultKind> {
        if self.rules.is_empty() {
            return None;
        }
        let mut point: f64 = rng.random_range(0.0..1.0);
        for &(rate, kind) in &self.rules {
            if point < rate {
                return Some(kind);
            }
            point -= rate;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delays_parse_and_stay_in_bounds() {
        assert_eq!(Delay::parse("50ms"), Ok(Delay::Fixed(Duration::from_millis(50))));
        assert_eq!(Delay::parse("1500ms"), Ok(Delay::Fixed(Duration::from_millis(1500))));
        assert_eq!(
            Delay::parse("20ms..200ms"),
            Ok(Delay::Uniform(Duration::from_millis(20), Duration::from_millis(200)))
        );
        for bad in ["", "50", "fast", "200ms..20ms", "-5ms", "2h", "lognormal:50ms", "lognormal:0ms:1s", "NaNs"] {
            let error = Delay::parse(bad).unwrap_err();
            assert!(error.contains("write 50ms"), "{bad}: {error}");
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let uniform = Delay::parse("20ms..30ms").unwrap();
        for _ in 0..1000 {
            let pause = uniform.draw(&mut rng);
            assert!((Duration::from_millis(20)..=Duration::from_millis(30)).contains(&pause));
        }
    }

    #[test]
    fn a_log_normal_has_its_median_and_tail() {
        let delay = Delay::parse("lognormal:40ms:400ms").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut draws: Vec<Duration> = (0..20_000).map(|_| delay.draw(&mut rng)).collect();
        draws.sort();
        let median = draws[draws.len() / 2].as_secs_f64();
        let p99 = draws[draws.len() * 99 / 100].as_secs_f64();
        assert!((0.036..0.044).contains(&median), "median {median}");
        assert!((0.33..0.48).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn fault_rules_parse_add_up_and_draw_at_their_rates() {
        let rules = FailRules::parse(&["10%:500", "5%:reset", "0.5%:stall", "2%:empty"]).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut counts = [0usize; 5];
        for _ in 0..100_000 {
            let index = match rules.draw(&mut rng) {
                Some(FaultKind::Status(500)) => 0,
                Some(FaultKind::Reset) => 1,
                Some(FaultKind::Stall) => 2,
                Some(FaultKind::Empty) => 3,
                None => 4,
                other => panic!("{other:?}"),
            };
            counts[index] += 1;
        }
        let near = |count: usize, expected: f64| ((count as f64) - expected).abs() < expected * 0.1 + 100.0;
        assert!(near(counts[0], 10_000.0) && near(counts[1], 5_000.0), "{counts:?}");
        assert!(near(counts[2], 500.0) && near(counts[3], 2_000.0) && near(counts[4], 82_500.0), "{counts:?}");
        for bad in ["5%", "5:500", "x%:500", "150%:500", "5%:600", "5%:boom", "60%:500,50%:reset"] {
            let texts: Vec<&str> = bad.split(',').collect();
            assert!(FailRules::parse(&texts).is_err(), "{bad}");
        }
        assert!(FailRules::parse(&["60%:500", "50%:reset"]).unwrap_err().contains("more than 100%"));
        assert_eq!(FailRules::parse(&["0%:500"]).unwrap().draw(&mut rng), None);
    }
}
