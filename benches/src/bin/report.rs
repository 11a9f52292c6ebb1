//! Turns one run's figures into the tables of `BENCHMARKS.md`.
//!
//! Reads criterion's medians (`target/criterion/{one_thread,two_threads}/<id>/new/`),
//! the two-thread tally, the allocation counts and the compile-time figures (all in
//! `target/resilience-bench/`), and prints the tables as Markdown; with `--write` it
//! also replaces the part of `BENCHMARKS.md` between `<!-- results:begin -->` and
//! `<!-- results:end -->`.
//!
//! ```text
//! cargo run -p resilience-bench --release --bin report -- --write
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use resilience_bench::cases::{CASES, Case, Role};
use resilience_bench::harness::{MAX_TRIES, MIN_OVERLAP, MIN_TALLIED_SPAN};
use resilience_bench::results;

const BEGIN: &str = "<!-- results:begin -->";
const END: &str = "<!-- results:end -->";

/// criterion's median time per call of `group/id`, in ns.
fn median(group: &str, id: &str) -> Option<f64> {
    let path = results::criterion_dir()
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

struct Figures {
    one: BTreeMap<&'static str, f64>,
    two: BTreeMap<&'static str, f64>,
    allocs: BTreeMap<String, Vec<String>>,
    overlap: BTreeMap<String, Vec<String>>,
    compile: BTreeMap<String, Vec<String>>,
    /// Issue 16's crates (`benches/compile-time/stacks.sh`): per kind of check, the
    /// plain crate, one attribute each, the stack of three, tracing's plain twin and
    /// `#[instrument]`.
    stacks: BTreeMap<String, Vec<String>>,
}

impl Figures {
    fn load() -> Self {
        let one = CASES
            .iter()
            .filter_map(|c| Some((c.id, median("one_thread", c.id)?)))
            .collect();
        // Two threads: the median over the kept samples only (criterion's own median
        // would include the forced ones).
        let overlap = results::read("two-threads.tsv");
        let two = CASES
            .iter()
            .filter_map(|c| Some((c.id, overlap.get(c.id)?.get(4)?.parse().ok()?)))
            .collect();
        Figures {
            one,
            two,
            allocs: results::read("allocations.tsv"),
            overlap,
            compile: results::read("compile-time.tsv"),
            stacks: results::read("compile-stacks.tsv"),
        }
    }

    /// Overhead over the floor, one thread.
    fn overhead(&self, case: &Case) -> Option<f64> {
        Some(self.one.get(case.id)? - self.one.get(case.floor())?)
    }

    fn overhead_of(&self, id: &str) -> Option<f64> {
        self.overhead(resilience_bench::cases::by_id(id)?)
    }

    fn slowdown(&self, id: &str) -> Option<f64> {
        Some(self.two.get(id)? / self.one.get(id)?)
    }

    fn compile(&self, key: &str, field: usize) -> Option<f64> {
        self.compile.get(key)?.get(field)?.parse().ok()
    }

    /// Issue 16's crate `crate_` (1 one attribute each, 2 the stack of three, 4
    /// `#[instrument]`) against its plain twin, for checks of `kind`.
    fn stack_ratio(&self, kind: &str, crate_: usize) -> Option<f64> {
        let row = self.stacks.get(kind)?;
        let at = |i: usize| row.get(i)?.parse::<f64>().ok();
        let plain = if crate_ == 4 { at(3)? } else { at(0)? };
        Some(at(crate_)? / plain)
    }
}

fn ns(v: Option<f64>) -> String {
    match v {
        Some(v) if v.abs() < 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
        None => "–".into(),
    }
}

fn ratio(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.2}×"),
        _ => "–".into(),
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or_else(String::new, |kb| {
            format!(", {:.0} GiB RAM", kb as f64 / 1024.0 / 1024.0)
        });
    let clock =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .map(|s| format!(", clock source `{}`", s.trim()))
            .unwrap_or_default();
    let virt = if cpuinfo.contains(" hypervisor") {
        " (virtual machine)"
    } else {
        ""
    };
    let run = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{model}{virt}, {cores} cores{mem}{clock}; Linux {}; {}",
        run("uname", &["-r"]),
        run("rustc", &["-V"])
    )
}

fn per_call_table(f: &Figures, out: &mut String, sync: bool) {
    writeln!(
        out,
        "| policy | case | median ns/call | overhead over the floor (ns) | ours ÷ anchor (overhead) | allocations/call |\n|---|---|--:|--:|--:|--:|"
    )
    .unwrap();
    for case in CASES.iter().filter(|c| c.sync == sync) {
        let Some(time) = f.one.get(case.id) else {
            continue;
        };
        let overhead = f.overhead(case);
        let vs = match (case.role, case.anchor) {
            (Role::Ours, Some(anchor)) => {
                let label = resilience_bench::cases::by_id(anchor).map_or(anchor, |a| a.label);
                match (overhead, f.overhead_of(anchor)) {
                    (Some(o), Some(a)) => format!("{} of {label}", ratio(Some(o.max(0.0) / a))),
                    _ => "–".into(),
                }
            }
            _ => String::new(),
        };
        let label = match case.role {
            Role::Ours | Role::Floor => format!("**`{}`**", case.label),
            Role::Anchor => case.label.to_owned(),
        };
        let allocs = f
            .allocs
            .get(case.id)
            .and_then(|v| v.first())
            .map_or("–", String::as_str);
        let overhead = if case.role == Role::Floor {
            "(floor)".to_owned()
        } else {
            ns(overhead)
        };
        writeln!(
            out,
            "| {} | {label} | {} | {overhead} | {vs} | {allocs} |",
            case.group,
            ns(Some(*time))
        )
        .unwrap();
    }
}

fn two_thread_table(f: &Figures, out: &mut String) {
    writeln!(
        out,
        "| policy | case | 1 thread (ns/call) | 2 threads (ns/call, each; median of kept samples) | slowdown | samples kept / dropped / forced | mean overlap |\n|---|---|--:|--:|--:|--:|--:|"
    )
    .unwrap();
    for case in CASES.iter().filter(|c| c.shared) {
        if !f.overlap.contains_key(case.id) {
            continue;
        }
        let two = f.two.get(case.id);
        let tally = f.overlap.get(case.id);
        let field = |i: usize| tally.and_then(|t| t.get(i)).map_or("–", String::as_str);
        let overlap = tally
            .and_then(|t| t.get(3))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or("–".into(), |v| format!("{:.0}%", v * 100.0));
        let label = match case.role {
            Role::Anchor => case.label.to_owned(),
            _ => format!("**`{}`**", case.label),
        };
        let kept: u64 = field(0).parse().unwrap_or(0);
        let (two, slowdown) = if kept < 10 {
            (
                format!("_{}_", ns(two.copied())),
                format!("_{}_", ratio(f.slowdown(case.id))),
            )
        } else {
            (ns(two.copied()), ratio(f.slowdown(case.id)))
        };
        writeln!(
            out,
            "| {} | {label} | {} | {two} | {slowdown} | {} / {} / {} | {overlap} |",
            case.group,
            ns(f.one.get(case.id).copied()),
            field(0),
            field(1),
            field(2),
        )
        .unwrap();
    }
}

fn compile_table(f: &Figures, out: &mut String) {
    if f.compile.is_empty() {
        writeln!(
            out,
            "_No compile-time figures: run `benches/compile-time/run.sh`._"
        )
        .unwrap();
        return;
    }
    let n = f.compile("functions", 0).unwrap_or(100.0);
    writeln!(
        out,
        "| build of the generated crate ({n:.0} functions) | with attributes (s) | without (s) | ratio | added per function (ms) |\n|---|--:|--:|--:|--:|"
    )
    .unwrap();
    for (key, what) in [
        (
            "check-incr",
            "`cargo check`, crate only, as cargo runs it by default (incremental)",
        ),
        (
            "check-incr-instrument",
            "the same, tracing's `#[instrument]` on every function instead (the issue quotes 3.0×)",
        ),
        (
            "check",
            "`cargo check`, crate only, not incremental (every body checked again)",
        ),
        (
            "build-release",
            "`cargo build --release`, crate only, not incremental",
        ),
        ("clean-check", "`cargo check` from clean (all dependencies)"),
    ] {
        let (Some(with), Some(without)) = (f.compile(key, 0), f.compile(key, 1)) else {
            continue;
        };
        writeln!(
            out,
            "| {what} | {with:.2} | {without:.2} | {} | {:.2} |",
            ratio(Some(with / without)),
            (with - without) * 1000.0 / n
        )
        .unwrap();
    }
    let mut k = 0;
    while let (Some(label), Some(with), Some(without)) = (
        f.compile
            .get(&format!("attribute-{k}"))
            .and_then(|v| v.first()),
        f.compile(&format!("check-only-{k}"), 0),
        f.compile(&format!("check-only-{k}"), 1),
    ) {
        if k == 0 {
            writeln!(
                out,
                "\nWhere the time goes: `cargo check` (crate only, incremental) with every function carrying one attribute set, against none; the last two rows carry no attribute but wrap the body in async blocks by hand, as the expansion does.\n\n| attribute on all {n:.0} functions | with (s) | without (s) | ratio | added per function (ms) |\n|---|--:|--:|--:|--:|"
            )
            .unwrap();
        }
        writeln!(
            out,
            "| `{label}` | {with:.3} | {without:.3} | {} | {:.2} |",
            ratio(Some(with / without)),
            (with - without) * 1000.0 / n
        )
        .unwrap();
        k += 1;
    }
    for (key, label) in [
        (
            "check-async-1",
            "no attribute; the body in an `async move` block, by hand",
        ),
        (
            "check-async-2",
            "no attribute; the body in two nested `async move` blocks",
        ),
    ] {
        if let (Some(with), Some(without)) = (f.compile(key, 0), f.compile(key, 1)) {
            writeln!(
                out,
                "| {label} | {with:.3} | {without:.3} | {} | {:.2} |",
                ratio(Some(with / without)),
                (with - without) * 1000.0 / n
            )
            .unwrap();
        }
    }
    if !f.stacks.is_empty() {
        writeln!(
            out,
            "\nIssue 16's crates (`benches/compile-time/stacks.sh`): 100 async fns, one attribute each (a quarter each of `#[retry(max_attempts = 3)]`, `#[timeout(\"1s\")]`, `#[circuit_breaker(name = ..)]`, `#[fallback(default)]`), and `retry + circuit_breaker + timeout` on each; `cargo check` after a touch (cargo's default, incremental) and after `cargo clean -p` of the crate; medians, the crates taking turns.\n\n| check | plain (s) | one attribute each | retry + breaker + timeout | tracing's `#[instrument]` (against its plain twin) |\n|---|--:|--:|--:|--:|"
        )
        .unwrap();
        for (kind, label) in [("touch", "after a touch"), ("clean", "after `clean -p`")] {
            let plain = f.stacks.get(kind).and_then(|r| r.first()).cloned();
            writeln!(
                out,
                "| {label} | {} | {} | {} | {} |",
                plain.unwrap_or_else(|| "–".into()),
                ratio(f.stack_ratio(kind, 1)),
                ratio(f.stack_ratio(kind, 2)),
                ratio(f.stack_ratio(kind, 4)),
            )
            .unwrap();
        }
    }
    if let Some(t) = f.compile("macros-clean-build", 0) {
        writeln!(
            out,
            "\n`resilience-macros` clean release build, with its dependencies (syn, quote, proc-macro2): {t:.1}s."
        )
        .unwrap();
    }
}

struct Target {
    what: String,
    figure: String,
    met: Option<bool>,
}

fn targets(f: &Figures) -> Vec<Target> {
    let mut t = Vec::new();
    let mut push =
        |what: String, figure: String, met: Option<bool>| t.push(Target { what, figure, met });
    let o = |id: &str| f.overhead_of(id);
    let le = |a: Option<f64>, b: Option<f64>| Some(a? <= b?);
    push(
        "`#[retry]` success path: overhead ≤ 3 ns".into(),
        format!("{} ns", ns(o("retry_ours"))),
        le(o("retry_ours"), Some(3.0)),
    );
    for (id, what) in [
        ("breaker_ours", "closed `#[circuit_breaker]` (count window)"),
        (
            "breaker_consecutive_ours",
            "closed `#[circuit_breaker(consecutive_failures = 5)]`",
        ),
    ] {
        push(
            format!("{what}: overhead ≤ recloser's"),
            format!("{} ns vs {} ns", ns(o(id)), ns(o("breaker_recloser"))),
            le(o(id), o("breaker_recloser")),
        );
    }
    for (id, what) in [
        (
            "breaker_sync_ours",
            "closed `#[circuit_breaker]` on a plain `fn`",
        ),
        (
            "breaker_sync_consecutive_ours",
            "closed `#[circuit_breaker(consecutive_failures = 5)]` on a plain `fn`",
        ),
    ] {
        push(
            format!("{what}: overhead ≤ recloser's (blocking)"),
            format!("{} ns vs {} ns", ns(o(id)), ns(o("breaker_sync_recloser"))),
            le(o(id), o("breaker_sync_recloser")),
        );
    }
    push(
        "free `#[bulkhead]` slot: overhead ≤ 15 ns".into(),
        format!("{} ns", ns(o("bulkhead_ours"))),
        le(o("bulkhead_ours"), Some(15.0)),
    );
    for (ours, anchor, what) in [
        (
            "rate_limit_ours",
            "rate_limit_governor",
            "`#[rate_limit]` direct",
        ),
        (
            "rate_limit_keyed_ours",
            "rate_limit_keyed_governor",
            "`#[rate_limit]` keyed",
        ),
        (
            "rate_limit_hot_key_ours",
            "rate_limit_hot_key_governor",
            "`#[rate_limit]` keyed, one hot key",
        ),
    ] {
        push(
            format!("{what}: overhead ≤ governor's"),
            format!("{} ns vs {} ns", ns(o(ours)), ns(o(anchor))),
            le(o(ours), o(anchor)),
        );
    }
    push(
        "`#[timeout]`: overhead ≤ `tokio::time::timeout`'s".into(),
        format!(
            "{} ns vs {} ns",
            ns(o("timeout_ours")),
            ns(o("timeout_tokio"))
        ),
        le(o("timeout_ours"), o("timeout_tokio")),
    );
    if let Some(stack) = resilience_bench::cases::by_id("stack_ours") {
        let parts: Option<f64> = stack.parts.iter().map(|p| o(p)).sum();
        push(
            "the full stack: overhead ≤ the sum of its parts".into(),
            format!("{} ns vs {} ns", ns(o("stack_ours")), ns(parts)),
            le(o("stack_ours"), parts),
        );
    }
    for (id, limit, what) in [
        ("breaker_ours", 2.0, "closed breaker (count window)"),
        (
            "breaker_consecutive_ours",
            2.0,
            "closed breaker (consecutive)",
        ),
        ("bulkhead_ours", 2.0, "free bulkhead slot"),
        ("rate_limit_ours", 3.0, "rate limiter (direct)"),
        ("rate_limit_keyed_ours", 3.0, "rate limiter (keyed)"),
    ] {
        push(
            format!("2 threads, {what}: ≤ {limit:.0}× slower per call"),
            ratio(f.slowdown(id)),
            f.slowdown(id).map(|s| s <= limit),
        );
    }
    let two = |id: &str| f.two.get(id).copied();
    push(
        "2 threads on one hot key: `#[rate_limit(key)]` per call ≤ governor keyed's".into(),
        format!(
            "{} ns vs {} ns",
            ns(two("rate_limit_hot_key_ours")),
            ns(two("rate_limit_hot_key_governor"))
        ),
        le(
            two("rate_limit_hot_key_ours"),
            two("rate_limit_hot_key_governor"),
        ),
    );
    let check = f.compile("check-incr", 0).zip(f.compile("check-incr", 1));
    push(
        "100 annotated functions: `cargo check` (cargo's default) ≤ 1.5× without attributes".into(),
        ratio(check.map(|(w, wo)| w / wo)),
        check.map(|(w, wo)| w / wo <= 1.5),
    );
    let n = f.compile("functions", 0).unwrap_or(100.0);
    let clean = f
        .compile("clean-check", 0)
        .zip(f.compile("clean-check", 1))
        .map(|(w, wo)| (w - wo) * 1000.0 / n);
    push(
        "clean `cargo check`: ≤ 2 ms added per function".into(),
        clean.map_or("–".into(), |ms| format!("{ms:.2} ms")),
        clean.map(|ms| ms <= 2.0),
    );
    for (what, kind, crate_, limit) in [
        (
            "one attribute each (issue 16): `cargo check` after a touch ≤ 1.4×",
            "touch",
            1,
            1.4,
        ),
        (
            "retry + breaker + timeout on each (issue 16): after a touch ≤ 1.7×",
            "touch",
            2,
            1.7,
        ),
        (
            "retry + breaker + timeout on each (issue 16): after `clean -p` ≤ 2.0×",
            "clean",
            2,
            2.0,
        ),
    ] {
        let r = f.stack_ratio(kind, crate_);
        push(what.into(), ratio(r), r.map(|r| r <= limit));
    }
    t
}

fn render(f: &Figures) -> String {
    let mut out = String::new();
    writeln!(out, "Machine: {}.\n", machine()).unwrap();
    let run = results::read("run.tsv");
    if let (Some(start), Some(end)) = (run.get("started"), run.get("finished")) {
        let field = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
        writeln!(
            out,
            "Run: {} to {}; load average (1, 5, 15 min) {} at the start, {} at the end.\n",
            field(start, 0),
            field(end, 0),
            field(start, 1),
            field(end, 1)
        )
        .unwrap();
    }
    writeln!(
        out,
        "### Per call, one thread: `async fn`\n\nMedian of criterion's samples; overhead = the case's median minus the bare `async fn`'s. \"ours ÷ anchor\" divides our overhead by the anchor's (below 1: ours costs less).\n"
    )
    .unwrap();
    per_call_table(f, &mut out, false);
    writeln!(out, "\n### Per call, one thread: plain `fn`\n").unwrap();
    per_call_table(f, &mut out, true);
    writeln!(
        out,
        "\n### Two threads sharing one instance\n\nTime per call on each thread while both call the same function (the same policy instance) at once, against one thread alone. A sample is kept when both threads surely ran at once for at least {:.0}% of it (span overlap minus each thread's descheduled time, from its CPU clock); otherwise it is dropped and taken again, up to {MAX_TRIES} times, after which criterion is handed the best one (\"forced\"), which the figures here leave out: the 2-thread time is the median of the kept samples only. Samples shorter than {MIN_TALLIED_SPAN:?} (criterion's first warm-up batches) are not counted. Fewer than 10 kept samples: the figure is in italics.\n",
        MIN_OVERLAP * 100.0
    )
    .unwrap();
    two_thread_table(f, &mut out);
    writeln!(out, "\n### Compile time\n").unwrap();
    compile_table(f, &mut out);
    writeln!(
        out,
        "\n### Targets\n\n| target | this run | met |\n|---|--:|:-:|"
    )
    .unwrap();
    for t in targets(f) {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        writeln!(out, "| {} | {} | {met} |", t.what, t.figure).unwrap();
    }
    out
}

fn main() {
    let figures = Figures::load();
    let tables = render(&figures);
    print!("{tables}");
    if std::env::args().any(|a| a == "--write") {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            eprintln!("{} has no {BEGIN} ... {END} section", path.display());
            std::process::exit(1);
        };
        let updated = format!("{}{BEGIN}\n{tables}{}", &doc[..b], &doc[e..]);
        std::fs::write(&path, updated).expect("BENCHMARKS.md is writable");
        eprintln!("updated {}", path.display());
    }
}
