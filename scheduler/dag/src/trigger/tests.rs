//! Trigger rules against Airflow: the 2-upstream conformance table worked out from
//! Airflow 3.3.2's `trigger_rule_dep.py`, the count cases of Airflow's own unit tests,
//! and every combination of three upstream states as a reviewed snapshot.

use super::*;
use crate::TRIGGER_RULES;

/// Counts for a string of upstream states: s success, k skipped, f failed,
/// u upstream_failed, r not finished.
fn counts(states: &str) -> UpstreamCounts {
    let mut c = UpstreamCounts {
        upstream: states.len(),
        ..UpstreamCounts::default()
    };
    for ch in states.chars() {
        match ch {
            's' => c.success += 1,
            'k' => c.skipped += 1,
            'f' => c.failed += 1,
            'u' => c.upstream_failed += 1,
            'r' => {}
            other => panic!("unknown state {other}"),
        }
    }
    c
}

fn short(d: Decision) -> &'static str {
    match d {
        Decision::Run => "RUN",
        Decision::Wait => "wait",
        Decision::Skip => "SKIP",
        Decision::UpstreamFailed => "UF",
    }
}

/// The columns of the reference table, in its order.
const COLUMNS: [TriggerRule; 12] = [
    TriggerRule::AllSuccess,
    TriggerRule::AllFailed,
    TriggerRule::AllDone,
    TriggerRule::AllDoneMinOneSuccess,
    TriggerRule::OneSuccess,
    TriggerRule::OneFailed,
    TriggerRule::OneDone,
    TriggerRule::NoneFailed,
    TriggerRule::NoneFailedMinOneSuccess,
    TriggerRule::NoneSkipped,
    TriggerRule::AllSkipped,
    TriggerRule::Always,
];

/// reference/airflow-semantics.md §5, "Conformance table for a task with 2 direct upstreams".
const TWO_UPSTREAMS: &str = "
ss RUN SKIP RUN RUN RUN SKIP RUN RUN RUN RUN SKIP RUN
sk SKIP SKIP RUN SKIP RUN SKIP RUN RUN RUN SKIP SKIP RUN
sf UF SKIP RUN RUN RUN RUN RUN UF UF RUN SKIP RUN
su UF SKIP RUN RUN RUN RUN RUN UF UF RUN SKIP RUN
sr wait SKIP wait wait RUN wait RUN wait wait wait SKIP RUN
kk SKIP SKIP RUN SKIP SKIP SKIP SKIP RUN SKIP SKIP RUN RUN
kf UF SKIP RUN SKIP UF RUN RUN UF UF SKIP SKIP RUN
ku UF SKIP RUN SKIP UF RUN SKIP UF UF SKIP SKIP RUN
kr SKIP SKIP wait SKIP wait wait wait wait wait SKIP wait RUN
ff UF RUN RUN UF UF RUN RUN UF UF RUN SKIP RUN
fu UF RUN RUN UF UF RUN RUN UF UF RUN SKIP RUN
fr UF wait wait wait wait RUN RUN UF UF wait SKIP RUN
uu UF RUN RUN UF UF RUN SKIP UF UF RUN SKIP RUN
ur UF wait wait wait wait RUN wait UF UF wait SKIP RUN
rr wait wait wait wait wait wait wait wait wait wait wait RUN
";

#[test]
fn every_rule_matches_airflow_for_every_pair_of_upstream_states() {
    let mut checked = 0;
    for line in TWO_UPSTREAMS.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let states = parts.next().expect("states");
        for (rule, expected) in COLUMNS.iter().zip(parts) {
            let got = short(evaluate(*rule, counts(states)));
            assert_eq!(got, expected, "{} with upstream {states}", rule.name());
            checked += 1;
        }
    }
    assert_eq!(checked, 15 * 12);
}

#[test]
fn airflows_own_unit_test_cases() {
    use TriggerRule as R;
    let c = |upstream, success, skipped, failed, upstream_failed| UpstreamCounts {
        upstream,
        success,
        skipped,
        failed,
        upstream_failed,
        removed: 0,
    };
    let cases = [
        (R::OneFailed, c(2, 2, 0, 0, 0), Decision::Skip),
        (R::OneFailed, c(4, 0, 2, 2, 0), Decision::Run),
        (R::OneFailed, c(4, 0, 2, 0, 2), Decision::Run),
        (R::OneDone, c(2, 2, 0, 0, 0), Decision::Run),
        (R::OneDone, c(2, 0, 0, 2, 0), Decision::Run),
        (R::OneDone, c(2, 0, 2, 0, 0), Decision::Skip),
        (R::OneDone, c(2, 0, 0, 0, 2), Decision::Skip),
        (R::AllSuccess, c(1, 1, 0, 0, 0), Decision::Run),
        (R::AllSuccess, c(2, 1, 0, 1, 0), Decision::UpstreamFailed),
        (R::AllSuccess, c(2, 1, 1, 0, 0), Decision::Skip),
        (R::NoneFailed, c(2, 1, 1, 0, 0), Decision::Run),
        (R::NoneFailed, c(3, 1, 1, 1, 0), Decision::UpstreamFailed),
        (R::NoneFailed, c(3, 1, 1, 0, 1), Decision::UpstreamFailed),
        (R::NoneFailedMinOneSuccess, c(2, 1, 1, 0, 0), Decision::Run),
        (R::NoneFailedMinOneSuccess, c(2, 0, 2, 0, 0), Decision::Skip),
        (
            R::NoneFailedMinOneSuccess,
            c(3, 1, 1, 1, 0),
            Decision::UpstreamFailed,
        ),
        (R::AllFailed, c(2, 0, 0, 2, 0), Decision::Run),
        (R::AllFailed, c(2, 2, 0, 0, 0), Decision::Skip),
        (R::AllDone, c(2, 2, 0, 0, 0), Decision::Run),
        (R::AllDone, c(2, 1, 0, 0, 0), Decision::Wait),
        (R::AllSkipped, c(1, 1, 0, 0, 0), Decision::Skip),
        (R::AllSkipped, c(1, 0, 0, 0, 1), Decision::Skip),
        (R::AllSkipped, c(3, 0, 3, 0, 0), Decision::Run),
        (R::NoneSkipped, c(3, 2, 0, 1, 0), Decision::Run),
        (R::NoneSkipped, c(2, 1, 1, 0, 0), Decision::Skip),
        (R::NoneSkipped, c(1, 0, 0, 0, 0), Decision::Wait),
        (R::AllDoneMinOneSuccess, c(2, 1, 0, 1, 0), Decision::Run),
        (R::AllDoneMinOneSuccess, c(2, 2, 0, 0, 0), Decision::Run),
        (R::AllDoneMinOneSuccess, c(2, 1, 1, 0, 0), Decision::Skip),
        (
            R::AllDoneMinOneSuccess,
            c(2, 0, 0, 2, 0),
            Decision::UpstreamFailed,
        ),
        (
            R::AllDoneMinOneSuccess,
            c(1, 0, 0, 0, 1),
            Decision::UpstreamFailed,
        ),
    ];
    for (rule, counts, expected) in cases {
        assert_eq!(
            evaluate(rule, counts),
            expected,
            "{} with {counts:?}",
            rule.name()
        );
    }
}

#[test]
fn a_task_without_upstream_and_always_run_at_once() {
    for (_, rule) in TRIGGER_RULES {
        assert_eq!(evaluate(*rule, UpstreamCounts::default()), Decision::Run);
    }
    assert_eq!(evaluate(TriggerRule::Always, counts("rrr")), Decision::Run);
}

#[test]
fn every_rule_for_every_combination_of_three_upstream_states() {
    let states = ['s', 'k', 'f', 'u', 'r'];
    // Columns, in COLUMNS order: all_success, all_failed, all_done, all_done_min_one_success,
    // one_success, one_failed, one_done, none_failed, none_failed_min_one_success,
    // none_skipped, all_skipped, always.
    let mut table = String::from("up  ");
    for name in [
        "as", "af", "ad", "ad1", "os", "of", "od", "nf", "nf1", "ns", "ask", "alw",
    ] {
        table.push_str(&format!(" {name:>4}"));
    }
    table.push('\n');
    for (i, a) in states.iter().enumerate() {
        for (j, b) in states.iter().enumerate().skip(i) {
            for c in states.iter().skip(j) {
                let up: String = [*a, *b, *c].iter().collect();
                table.push_str(&format!("{up} "));
                for rule in COLUMNS {
                    table.push_str(&format!(" {:>4}", short(evaluate(rule, counts(&up)))));
                }
                table.push('\n');
            }
        }
    }
    insta::assert_snapshot!(table);
}
