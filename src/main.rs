//! The command line: parse, dispatch to the library, map the outcome to
//! an exit code. The clap types are in `cli.rs`, what is written where in
//! `logging.rs`; everything else lives in the library so tests can call it.

mod cli;
mod logging;
mod servers;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use advocacy::blocking;
use advocacy::config::Config;
use advocacy::diff::Against;
use advocacy::generate::{GenerateOptions, generate};
use advocacy::pipeline::spec::Severity;
use advocacy::run::{RunOptions, Step, exit};
use cli::{
    Cli, Command, DagArgs, DatedArgs, DiffArgs, DiffFormat, GenerateArgs, Global, LineageArgs,
    LogFormat, QueryArgs, RepairArgs, TestArgs,
};
use logging::{ClosedPipe, Output};

/// `--version`: the crate's, the commit and the DataFusion release (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ADVOCACY_COMMIT"),
    ", DataFusion ",
    env!("ADVOCACY_DATAFUSION_VERSION"),
    ")"
);

/// Exit 0 when the reader closed stdout: it has what it wanted.
fn written(result: Result<(), ClosedPipe>, code: i32) -> i32 {
    match result {
        Ok(()) => code,
        Err(ClosedPipe) => exit::SUCCESS,
    }
}

/// What `run`, `ingest` and `build` share.
struct StepArgs {
    global: Global,
    date: Option<chrono::NaiveDate>,
    force_unlock: bool,
    select: Vec<String>,
    full_refresh: bool,
    dev: Option<String>,
}

fn run_step(step: Step, args: StepArgs) -> i32 {
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    let options = RunOptions {
        config: args.global.config,
        date: args.date,
        // A bar is for a person at a terminal, not for a log collector.
        show_progress: !args.global.quiet && !output.json,
        force_unlock: args.force_unlock,
        select: args.select,
        full_refresh: args.full_refresh,
        dev: args.dev,
    };
    match blocking::execute(step, &options) {
        Ok(record) if args.global.quiet && !output.json => record.exit_code,
        Ok(record) => written(output.run_summary(&record), record.exit_code),
        Err(e) => output.failure(&e, true),
    }
}

fn run_repair_manifest(args: RepairArgs) -> i32 {
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    let config = &args.global.config;
    match blocking::repair_manifest(config, args.lock.force_unlock) {
        Ok(repaired) if output.json => written(
            output.event(serde_json::json!({ "event": "repaired", "summary": repaired.summary() })),
            exit::SUCCESS,
        ),
        Ok(repaired) => written(output.text(&repaired.summary()), exit::SUCCESS),
        Err(e) => output.failure(&e, false),
    }
}

fn run_validate(args: DatedArgs) -> i32 {
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    let checked = blocking::validate(&args.global.config, args.date.date);
    let v = match checked {
        Ok(v) => v,
        Err(e) => return output.failure(&e, false),
    };
    for warning in &v.warnings {
        output.note("WARN", warning);
    }
    for error in &v.errors {
        output.note("ERROR", error);
    }
    let code = match v.errors.is_empty() {
        true => exit::SUCCESS,
        false => exit::INVALID,
    };
    let result = if output.json {
        output.event(serde_json::json!({
            "event": "validated", "ok": v.errors.is_empty(), "errors": v.errors.len(),
            "warnings": v.warnings.len(), "models": v.models_checked, "charts": v.charts_checked,
        }))
    } else if v.errors.is_empty() {
        output.text(&format!(
            "ok: config, {} model(s) and {} chart(s) are valid\n",
            v.models_checked, v.charts_checked
        ))
    } else {
        eprintln!("{} error(s)", v.errors.len());
        Ok(())
    };
    written(result, code)
}

fn run_dag(args: DagArgs) -> i32 {
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    match blocking::dag(&args.global.config, args.format) {
        Ok(text) => written(output.text(&text), exit::SUCCESS),
        Err(e) => output.failure(&e, false),
    }
}

fn run_tests(args: TestArgs) -> i32 {
    if args.unit {
        return run_unit_tests(args);
    }
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    let tested = blocking::test(&args.global.config, args.date.date, &args.select);
    let (results, warnings) = match tested {
        Ok(tested) => tested,
        Err(e) => return output.failure(&e, false),
    };
    for warning in &warnings {
        output.note("WARN", warning);
    }
    let failed: Vec<_> = results.iter().filter(|t| !t.passed).collect();
    let code = match failed.iter().any(|t| t.severity == Severity::Error) {
        true => exit::TESTS_FAILED,
        false => exit::SUCCESS,
    };
    let passed = results.len() - failed.len();
    if output.json {
        let failures: Vec<_> = failed.iter().map(|t| t.describe()).collect();
        let event = serde_json::json!({
            "event": "tested", "passed": passed, "failed": failed.len(), "failures": failures,
        });
        return written(output.event(event), code);
    }
    let mut text: String = failed.iter().map(|t| t.describe()).collect();
    text.push_str(&format!("{passed} passed, {} failed\n", failed.len()));
    written(output.text(&text), code)
}

fn run_unit_tests(args: TestArgs) -> i32 {
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    let tested = blocking::unit_test(&args.global.config, args.date.date, &args.select);
    let results = match tested {
        Ok(results) => results,
        Err(e) => return output.failure(&e, false),
    };
    let failed = results.iter().filter(|t| !t.passed).count();
    let code = match failed {
        0 => exit::SUCCESS,
        _ => exit::TESTS_FAILED,
    };
    let passed = results.len() - failed;
    if output.json {
        let event = serde_json::json!({
            "event": "unit_tested", "passed": passed, "failed": failed, "tests": results,
        });
        return written(output.event(event), code);
    }
    let mut text: String = results.iter().map(|t| t.describe()).collect();
    text.push_str(&format!("{passed} passed, {failed} failed\n"));
    written(output.text(&text), code)
}

fn run_diff(args: DiffArgs) -> i32 {
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    let against = match (args.dev, args.from_date, args.to_date) {
        (Some(name), _, _) => Against::Dev(name),
        (None, Some(from), Some(to)) => Against::Dates { from, to },
        _ => unreachable!("clap requires --dev or both dates"),
    };
    let diff = match blocking::diff(&args.global.config, &against, &args.reports) {
        Ok(diff) => diff,
        Err(e) => return output.failure(&e, false),
    };
    let text = match args.format {
        DiffFormat::Table => diff.render(),
        DiffFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&diff).expect("a diff serialises")
        ),
    };
    written(output.text(&text), exit::SUCCESS)
}

fn run_lineage(args: LineageArgs) -> i32 {
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    let trace = match blocking::lineage(&args.global.config, &args.column) {
        Ok(trace) => trace,
        Err(e) => return output.failure(&e, false),
    };
    let text = match args.format {
        DiffFormat::Table => trace.render(),
        DiffFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&trace).expect("a trace serialises")
        ),
    };
    written(output.text(&text), exit::SUCCESS)
}

fn run_query(args: QueryArgs) -> i32 {
    logging::init(&args.global);
    let output = Output::new(args.global.log_format);
    match blocking::query(&args.global.config, &args.sql, args.format) {
        Ok(text) => written(output.text(&text), exit::SUCCESS),
        Err(e) => output.failure(&e, false),
    }
}

fn run_generate(args: GenerateArgs) -> i32 {
    let storage = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => config.storage,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        },
        None => Default::default(),
    };
    let options = GenerateOptions {
        out: args.out,
        customers: args.customers,
        seed: args.seed,
        start: args.start,
        end: args.end,
        bad_rows: !args.clean,
        profile: args.profile,
        storage,
    };
    let started = std::time::Instant::now();
    match generate(&options) {
        Ok(summary) => {
            let seconds = started.elapsed().as_secs_f64();
            let output = Output::new(LogFormat::Text);
            written(
                output.text(&summary.describe(seconds, &options.out)),
                exit::SUCCESS,
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("error: {e}");
            exit::INVALID
        }
        Err(e) => {
            eprintln!("error: cannot write to {}: {e}", options.out);
            exit::FAILED
        }
    }
}

fn print_config_schema() -> i32 {
    let schema = schemars::schema_for!(advocacy::config::Config);
    let text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    written(
        Output::new(LogFormat::Text).text(&format!("{text}\n")),
        exit::SUCCESS,
    )
}

fn print_completions(shell: clap_complete::Shell) -> i32 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "advocacy", &mut script);
    let text = String::from_utf8_lossy(&script);
    written(Output::new(LogFormat::Text).text(&text), exit::SUCCESS)
}

fn print_man_page() -> i32 {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .expect("rendering into memory");
    let text = String::from_utf8_lossy(&page);
    written(Output::new(LogFormat::Text).text(&text), exit::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(a) => run_step(
            Step::Run,
            StepArgs {
                global: a.global,
                date: a.date.date,
                force_unlock: a.lock.force_unlock,
                select: a.select.select,
                full_refresh: a.refresh.full_refresh,
                dev: None,
            },
        ),
        Command::Ingest(a) => run_step(
            Step::Ingest,
            StepArgs {
                global: a.global,
                date: a.date.date,
                force_unlock: a.lock.force_unlock,
                select: Vec::new(),
                full_refresh: a.refresh.full_refresh,
                dev: None,
            },
        ),
        Command::Build(a) => run_step(
            Step::Build,
            StepArgs {
                global: a.global,
                date: a.date.date,
                force_unlock: a.lock.force_unlock,
                select: a.select.select,
                full_refresh: a.full_refresh,
                dev: a.dev,
            },
        ),
        Command::Validate(args) => run_validate(args),
        Command::Dag(args) => run_dag(args),
        Command::Test(args) => run_tests(args),
        Command::Diff(args) => run_diff(args),
        Command::Lineage(args) => run_lineage(args),
        Command::Query(args) => run_query(args),
        Command::RepairManifest(args) => run_repair_manifest(args),
        Command::Generate(args) => run_generate(args),
        Command::ConfigSchema => print_config_schema(),
        Command::Completions { shell } => print_completions(shell),
        Command::Man => print_man_page(),
        Command::Scheduler(args) => servers::run_scheduler(args),
        Command::Executor(args) => servers::run_executor(args),
    };
    ExitCode::from(code as u8)
}
