//! Results of scenario runs: the one-line-per-scenario text, the summary, and the JSON report.

use serde_json::{json, Map, Value};

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// Not applicable to this build or machine (a tool is missing, not root, ...).
    Skip(String),
}

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub outcome: Outcome,
    pub figures: Vec<(String, String)>,
    /// Bounds of bounded figures: (figure name, `≤ 250` …).
    pub bounds: Vec<(String, String)>,
    /// Promises left out under `--compat-2.07`.
    pub compat_skipped: Vec<String>,
    pub secs: f64,
}

impl ScenarioResult {
    /// A result with nothing measured.
    pub fn bare(name: &str, outcome: Outcome) -> ScenarioResult {
        ScenarioResult {
            name: name.to_string(),
            outcome,
            figures: vec![],
            bounds: vec![],
            compat_skipped: vec![],
            secs: 0.0,
        }
    }

    fn bound_of(&self, figure: &str) -> Option<&str> {
        self.bounds
            .iter()
            .find(|(k, _)| k == figure)
            .map(|(_, b)| b.as_str())
    }

    /// `PASS name  k=v …` / `FAIL name: reason` / `SKIP name: reason`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Outcome::Pass => {
                let figs: Vec<String> = self
                    .figures
                    .iter()
                    .map(|(k, v)| match self.bound_of(k) {
                        Some(b) => format!("{k}={v} ({b})"),
                        None => format!("{k}={v}"),
                    })
                    .collect();
                format!("PASS {}  {}", self.name, figs.join(" "))
                    .trim_end()
                    .to_string()
                    + &format!("  ({:.1} s)", self.secs)
            }
            Outcome::Fail(r) => format!("FAIL {}: {}", self.name, r),
            Outcome::Skip(r) => format!("SKIP {}: {}", self.name, r),
        }
    }

    pub fn to_json(&self) -> Value {
        let (outcome, reason) = match &self.outcome {
            Outcome::Pass => ("pass", None),
            Outcome::Fail(r) => ("fail", Some(r.clone())),
            Outcome::Skip(r) => ("skip", Some(r.clone())),
        };
        let mut figs = Map::new();
        for (k, v) in &self.figures {
            figs.insert(
                k.clone(),
                v.parse::<f64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(v.clone())),
            );
        }
        // Numbers for machines, the text as measured for the PASS line.
        let text: Map<String, Value> = self
            .figures
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let bounds: Map<String, Value> = self
            .bounds
            .iter()
            .map(|(k, b)| (k.clone(), Value::String(b.clone())))
            .collect();
        json!({
            "name": self.name,
            "outcome": outcome,
            "reason": reason,
            "figures": figs,
            "figures_text": text,
            "bounds": bounds,
            "compat_skipped": self.compat_skipped,
            "secs": self.secs,
        })
    }

    pub fn from_json(v: &Value) -> Option<ScenarioResult> {
        let name = v.get("name")?.as_str()?.to_string();
        let reason = v
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let outcome = match v.get("outcome")?.as_str()? {
            "pass" => Outcome::Pass,
            "skip" => Outcome::Skip(reason),
            _ => Outcome::Fail(reason),
        };
        let pairs = |key: &str| -> Vec<(String, String)> {
            v.get(key)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut figures = pairs("figures_text");
        if figures.is_empty() {
            figures = pairs("figures");
        }
        let compat_skipped = v
            .get("compat_skipped")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Some(ScenarioResult {
            name,
            outcome,
            figures,
            bounds: pairs("bounds"),
            compat_skipped,
            secs: v.get("secs").and_then(Value::as_f64).unwrap_or(0.0),
        })
    }
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub results: Vec<ScenarioResult>,
    pub secs: f64,
    /// The run had `--compat-2.07`.
    pub compat: bool,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .count()
    }
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Pass)
            .count()
    }
    pub fn skipped(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skip(_)))
            .count()
    }

    /// Every promise left out under `--compat-2.07`, as `scenario: promise`.
    pub fn compat_skipped(&self) -> Vec<String> {
        self.results
            .iter()
            .flat_map(|r| {
                r.compat_skipped
                    .iter()
                    .map(move |p| format!("{}: {p}", r.name))
            })
            .collect()
    }

    /// The counts line; under `--compat-2.07` followed by one line per promise left out.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} scenarios: {} passed, {} failed, {} skipped in {:.1} s",
            self.results.len(),
            self.passed(),
            self.failed(),
            self.skipped(),
            self.secs
        );
        if self.compat {
            let left = self.compat_skipped();
            s += &format!(
                "\n--compat-2.07: {} promises perp 2.07 never made were not checked{}",
                left.len(),
                if left.is_empty() { "" } else { ":" }
            );
            for p in left {
                s += &format!("\n  - {p}");
            }
        }
        s
    }

    pub fn to_json(&self, bin_dir: &str) -> Value {
        json!({
            "bin_dir": bin_dir,
            "poller": std::env::var("PERP_POLLER").unwrap_or_default(),
            "compat_2_07": self.compat,
            "compat_skipped": self.compat_skipped(),
            "passed": self.passed(),
            "failed": self.failed(),
            "skipped": self.skipped(),
            "secs": self.secs,
            "scenarios": self.results.iter().map(ScenarioResult::to_json).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json_round_trip() {
        let r = ScenarioResult {
            figures: vec![("ms".into(), "3.5".into()), ("n".into(), "2".into())],
            bounds: vec![("ms".into(), "≤ 250".into())],
            compat_skipped: vec!["answered at once".into()],
            ..ScenarioResult::bare("restart", Outcome::Fail("no restart".into()))
        };
        assert_eq!(r.line(), "FAIL restart: no restart");
        let back = ScenarioResult::from_json(&r.to_json()).unwrap();
        assert_eq!(back.outcome, r.outcome);
        assert_eq!(back.figures, r.figures);
        assert_eq!(back.bounds, r.bounds);
        assert_eq!(back.compat_skipped, r.compat_skipped);
        let p = ScenarioResult {
            outcome: Outcome::Pass,
            ..r
        };
        assert!(
            p.line().starts_with("PASS restart  ms=3.5 (≤ 250) n=2"),
            "{}",
            p.line()
        );
        let report = Report {
            results: vec![p],
            secs: 1.0,
            compat: true,
        };
        assert!(
            report.summary().ends_with(
                "1 promises perp 2.07 never made were not checked:\n  - restart: answered at once"
            ),
            "{}",
            report.summary()
        );
    }
}
