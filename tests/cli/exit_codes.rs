//! The command line: help, exit codes, config errors with positions.

use crate::common::{Project, assert_exit, stderr, stdout};

#[test]
fn help_explains_run_and_ingest() {
    let p = Project::new();
    let out = p.advocacy(&["--help"]);
    assert_exit(&out, 0);
    let help = stdout(&out);
    assert!(
        help.contains("run ") && help.contains("The nightly job"),
        "{help}"
    );
    assert!(
        help.contains("ingest ") && help.contains("raw zone"),
        "{help}"
    );
    assert!(help.contains("4 another run holds the lock"), "{help}");
    let run_help = stdout(&p.advocacy(&["run", "--help"]));
    for flag in ["--config", "--date", "--log-format", "--verbose", "--quiet"] {
        assert!(run_help.contains(flag), "{flag} missing from:\n{run_help}");
    }
}

#[test]
fn invalid_config_exits_2_naming_file_line_and_column() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "landing: landing\nwarehouse: warehouse\nrun: { pii_salt: s, pii_salt_public: true }\nsources:\n  - name: crm\n    entity: customer\n",
    );
    let out = p.advocacy(&["ingest", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.starts_with("error: config.yaml: sources[0].entity: unknown variant `customer`"),
        "{err}"
    );
    assert!(err.trim_end().ends_with("at line 6 column 13"), "{err}");
}

#[test]
fn unset_variable_and_missing_file_exit_2() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "landing: landing\nwarehouse: \"${ADVOCACY_TEST_NOT_SET}\"\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("environment variable ADVOCACY_TEST_NOT_SET is not set"));
    let missing = p.advocacy(&["run", "--config", "nope.yaml"]);
    assert_exit(&missing, 2);
    assert!(
        stderr(&missing).contains("cannot read config nope.yaml"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn bad_arguments_exit_2() {
    let p = Project::new();
    assert_exit(&p.advocacy(&["run", "--date", "2026-13-01"]), 2);
    assert_exit(&p.advocacy(&["frobnicate"]), 2);
}

#[test]
fn missing_landing_folder_fails_the_run_with_exit_1() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "landing: does-not-exist\nwarehouse: warehouse\nrun: { pii_salt: s, pii_salt_public: true }\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("does-not-exist: no such folder"),
        "{}",
        stderr(&out)
    );
}
