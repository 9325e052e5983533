//! The bundled project's unit tests (`unit_tests:` in queries/models.yml)
//! pass, each of them, on the bundled config: no landing or warehouse read.

use crate::common::{assert_exit, stdout};

#[test]
fn the_bundled_unit_tests_pass() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = crate::common::advocacy_in(
        repo,
        &["test", "--unit", "--config", "config/advocacy.yaml"],
        &[],
    );
    assert_exit(&out, 0);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "PASS a_respondent_answering_twice_counts_once_per_period_with_the_latest_answer (nps_trends)",
            "PASS with_every_answer_counted_a_repeat_respondent_counts_twice (nps_trends)",
            "PASS a_referee_invited_twice_counts_under_the_invite_that_led_somewhere (int_referrals)",
            "PASS advocacy_signals_leave_the_window_after_its_days (int_advocate_timeline)",
            "PASS six_customers_fill_the_deciles_by_rank_share_and_the_top_one_is_in_ten (customer_clv)",
            "PASS detractors_are_called_most_valuable_first_on_their_latest_answer (detractor_followups)",
            "6 passed, 0 failed",
        ]
    );
}
