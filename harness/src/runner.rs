//! Runs scenarios. Each scenario runs in its own child process of the harness (so a panic or a
//! hang in one cannot take the others down, and its processes are swept by tag afterwards),
//! strictly one after another (so timings are not distorted by each other).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::report::{Outcome, Report, ScenarioResult};
use crate::scenario::{Env, Scenario};
use crate::{process, R};

/// A scenario definition.
pub struct Def {
    pub name: &'static str,
    /// Tools that must exist in the bin dir (else SKIP).
    pub needs: &'static [&'static str],
    pub run: fn(&mut Scenario) -> R<()>,
}

/// Options of a scenario run.
#[derive(Debug, Clone)]
pub struct RunOpts {
    pub bin_dir: PathBuf,
    pub json: Option<PathBuf>,
    pub filter: Option<String>,
    pub skip: Vec<String>,
    pub list: bool,
    pub long: bool,
    /// Leave out the promises perp 2.07 never made (and name them in the summary).
    pub compat: bool,
}

fn selected(filter: &Option<String>, skip: &[String]) -> Vec<Def> {
    crate::scenarios::all()
        .into_iter()
        .filter(|d| {
            filter
                .as_ref()
                .map_or(true, |f| d.name.contains(f.as_str()))
        })
        .filter(|d| !skip.iter().any(|s| d.name.contains(s.as_str())))
        .collect()
}

/// Run the selected scenarios, print one line each and a summary; returns the exit code.
pub fn run(opts: &RunOpts) -> i32 {
    let defs = selected(&opts.filter, &opts.skip);
    if opts.list {
        for d in &defs {
            println!("{}", d.name);
        }
        return 0;
    }
    if defs.is_empty() {
        eprintln!("perp-harness: no scenario matches the filter");
        return 100;
    }
    let bin_dir = match opts.bin_dir.canonicalize() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("perp-harness: --bin-dir {}: {e}", opts.bin_dir.display());
            return 111;
        }
    };
    if !bin_dir.join("perpd").is_file() {
        eprintln!("perp-harness: no perpd in {}", bin_dir.display());
        return 111;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("perp-harness: cannot find my own executable: {e}");
            return 111;
        }
    };
    process::raise_nofile();
    process::default_signals();
    let start = Instant::now();
    let mut report = Report {
        compat: opts.compat,
        ..Report::default()
    };
    for (i, d) in defs.iter().enumerate() {
        let r = run_isolated(&exe, &bin_dir, d.name, i, opts);
        println!("{}", r.line());
        report.results.push(r);
    }
    report.secs = start.elapsed().as_secs_f64();
    println!("{}", report.summary());
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&report.to_json(&bin_dir.display().to_string()))
            .unwrap_or_default();
        if let Err(e) = fs::write(path, text + "\n") {
            eprintln!("perp-harness: write {}: {e}", path.display());
            return 111;
        }
    }
    if report.failed() > 0 {
        1
    } else {
        0
    }
}

fn run_isolated(
    exe: &Path,
    bin_dir: &Path,
    name: &str,
    idx: usize,
    opts: &RunOpts,
) -> ScenarioResult {
    let long = opts.long;
    let started = Instant::now();
    let tag = format!(
        "{}-{idx}-{}",
        std::process::id(),
        (process::wall_secs() * 1e6) as u64
    );
    let scratch = std::env::temp_dir();
    let out = scratch.join(format!("perp-harness.{tag}.json"));
    let err = scratch.join(format!("perp-harness.{tag}.err"));
    let fail = |reason: String| ScenarioResult {
        secs: started.elapsed().as_secs_f64(),
        ..ScenarioResult::bare(name, Outcome::Fail(reason))
    };
    let errf = match fs::File::create(&err) {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot create {}: {e}", err.display())),
    };
    let mut cmd = Command::new(exe);
    cmd.arg("__scenario")
        .arg(name)
        .arg(bin_dir)
        .arg(&tag)
        .arg(&out);
    if long {
        cmd.arg("--long");
    }
    if opts.compat {
        cmd.arg("--compat-2.07");
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(errf);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start scenario process: {e}")),
    };
    let limit = Duration::from_secs(if long { 400 } else { 150 });
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => {}
            Err(_) => break None,
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let left = process::sweep(&tag, None);
    let stderr = fs::read_to_string(&err).unwrap_or_default();
    let _ = fs::remove_file(&err);
    let result = fs::read_to_string(&out)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .and_then(|v| ScenarioResult::from_json(&v));
    let _ = fs::remove_file(&out);
    let mut r = match (result, status) {
        (Some(r), _) => r,
        (None, None) => fail(format!(
            "timed out after {} s (processes killed); stderr: {}",
            limit.as_secs(),
            crate::clip(&stderr, 400)
        )),
        (None, Some(st)) => fail(format!(
            "scenario process ended without a result ({st}); stderr: {}",
            crate::clip(&stderr, 600)
        )),
    };
    if !left.is_empty() && r.outcome == Outcome::Pass {
        r.outcome = Outcome::Fail(format!("processes left behind and unkillable: {left:?}"));
    }
    r.secs = started.elapsed().as_secs_f64();
    r
}

/// `perp-harness __scenario NAME BIN_DIR TAG OUT [--long] [--compat-2.07]`: run one scenario in
/// this process and write its result as JSON to OUT.
pub fn scenario_child(args: &[String]) -> i32 {
    let (Some(name), Some(bin_dir), Some(tag), Some(out)) =
        (args.first(), args.get(1), args.get(2), args.get(3))
    else {
        eprintln!("__scenario: usage: NAME BIN_DIR TAG OUT [--long] [--compat-2.07]");
        return 100;
    };
    let long = args.iter().any(|a| a == "--long");
    let compat = args.iter().any(|a| a == "--compat-2.07");
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("perp-harness"));
    let env = Env {
        bin_dir: PathBuf::from(bin_dir),
        exe,
        long,
        tag: tag.clone(),
        compat,
    };
    process::raise_nofile();
    process::default_signals();
    let started = Instant::now();
    let r = run_in_process(name, &env);
    let r = ScenarioResult {
        secs: started.elapsed().as_secs_f64(),
        ..r
    };
    match fs::write(out, r.to_json().to_string()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("__scenario: write {out}: {e}");
            111
        }
    }
}

/// Run one scenario here, with teardown, and check nothing was left running.
pub fn run_in_process(name: &str, env: &Env) -> ScenarioResult {
    let bare = |outcome| ScenarioResult::bare(name, outcome);
    let Some(def) = crate::scenarios::all().into_iter().find(|d| d.name == name) else {
        return bare(Outcome::Fail(format!("unknown scenario {name}")));
    };
    if let Some(missing) = def.needs.iter().find(|t| !env.has_tool(t)) {
        return bare(Outcome::Skip(format!(
            "{missing} not found in {}",
            env.bin_dir.display()
        )));
    }
    let mut sc = match Scenario::new(env) {
        Ok(s) => s,
        Err(e) => return bare(Outcome::Fail(e)),
    };
    let res = (def.run)(&mut sc);
    let left = sc.teardown();
    let figures = std::mem::take(&mut sc.figures);
    let bounds = std::mem::take(&mut sc.bounds);
    let compat_skipped = std::mem::take(&mut sc.compat_skipped);
    drop(sc);
    let outcome = match res {
        Ok(()) if left.is_empty() => Outcome::Pass,
        Ok(()) => Outcome::Fail(format!("processes left behind and unkillable: {left:?}")),
        Err(e) => match e.strip_prefix("skip: ") {
            Some(why) => Outcome::Skip(why.to_string()),
            None => Outcome::Fail(e),
        },
    };
    ScenarioResult {
        figures,
        bounds,
        compat_skipped,
        ..bare(outcome)
    }
}

/// The directory of this program (where `cargo build` puts perpd and friends too).
pub fn default_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}
