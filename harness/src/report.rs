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
    pub secs: f64,
}

impl ScenarioResult {
    /// `PASS name  k=v …` / `FAIL name: reason` / `SKIP name: reason`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Outcome::Pass => {
                let figs: Vec<String> = self
                    .figures
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
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
        json!({ "name": self.name, "outcome": outcome, "reason": reason, "figures": figs, "figures_text": text, "secs": self.secs })
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
        let figures = v
            .get("figures_text")
            .or_else(|| v.get("figures"))
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
            .unwrap_or_default();
        Some(ScenarioResult {
            name,
            outcome,
            figures,
            secs: v.get("secs").and_then(Value::as_f64).unwrap_or(0.0),
        })
    }
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub results: Vec<ScenarioResult>,
    pub secs: f64,
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

    pub fn summary(&self) -> String {
        format!(
            "{} scenarios: {} passed, {} failed, {} skipped in {:.1} s",
            self.results.len(),
            self.passed(),
            self.failed(),
            self.skipped(),
            self.secs
        )
    }

    pub fn to_json(&self, bin_dir: &str) -> Value {
        json!({
            "bin_dir": bin_dir,
            "poller": std::env::var("PERP_POLLER").unwrap_or_default(),
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
            name: "restart".into(),
            outcome: Outcome::Fail("no restart".into()),
            figures: vec![("ms".into(), "3.5".into())],
            secs: 1.0,
        };
        assert_eq!(r.line(), "FAIL restart: no restart");
        let back = ScenarioResult::from_json(&r.to_json()).unwrap();
        assert_eq!(back.outcome, r.outcome);
        assert_eq!(back.figures, vec![("ms".to_string(), "3.5".to_string())]);
        let p = ScenarioResult {
            outcome: Outcome::Pass,
            ..r
        };
        assert!(p.line().starts_with("PASS restart  ms=3.5"), "{}", p.line());
    }
}
