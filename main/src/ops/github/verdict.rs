//! What GitHub says of a pull request, summed up for the card: its head commit's checks (check runs and
//! commit statuses) and its reviewers' decision.

use crate::github::model::{GhCheckRuns, GhCombinedStatus, GhReview};
use crate::store::{ChecksState, ChecksSummary, FailedCheck, ReviewDecision};

/// The head commit's checks (check runs and commit statuses), summed up; failed ones with their output's
/// title and summary.
pub fn summarize_checks(runs: &GhCheckRuns, statuses: &GhCombinedStatus) -> ChecksSummary {
    let mut s = ChecksSummary::default();
    for status in &statuses.statuses {
        match status.state.as_str() {
            "success" => s.passed += 1,
            "pending" => s.pending += 1,
            other => {
                s.failed += 1;
                s.failing.push(FailedCheck {
                    name: status.context.clone(),
                    conclusion: other.to_string(),
                    summary: status
                        .description
                        .clone()
                        .unwrap_or_default()
                        .chars()
                        .take(2000)
                        .collect(),
                    url: status.target_url.clone(),
                });
            }
        }
    }
    for run in &runs.check_runs {
        if run.status != "completed" {
            s.pending += 1;
            continue;
        }
        match run.conclusion.as_deref() {
            Some("success" | "neutral" | "skipped") => s.passed += 1,
            Some(conclusion) => {
                s.failed += 1;
                let output = run.output.clone().unwrap_or_default();
                let summary = [output.title, output.summary]
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                s.failing.push(FailedCheck {
                    name: run.name.clone(),
                    conclusion: conclusion.to_string(),
                    summary: summary.chars().take(2000).collect(),
                    url: run.html_url.clone(),
                });
            }
            None => s.pending += 1,
        }
    }
    s.state = if s.failed > 0 {
        ChecksState::Failure
    } else if s.pending > 0 {
        ChecksState::Pending
    } else if s.passed > 0 {
        ChecksState::Success
    } else {
        ChecksState::None
    };
    s
}

/// The review decision: each reviewer's latest approving or change-requesting review counts; a request
/// for changes outweighs approvals.
pub fn decision(reviews: &[GhReview]) -> ReviewDecision {
    let mut latest: std::collections::BTreeMap<String, &str> = Default::default();
    let mut commented = false;
    for r in reviews {
        let who = r
            .user
            .as_ref()
            .map_or_else(String::new, |u| u.login.clone());
        match r.state.as_str() {
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED" => {
                latest.insert(who, r.state.as_str());
            }
            "COMMENTED" => commented = true,
            _ => {}
        }
    }
    if latest.values().any(|s| *s == "CHANGES_REQUESTED") {
        ReviewDecision::ChangesRequested
    } else if latest.values().any(|s| *s == "APPROVED") {
        ReviewDecision::Approved
    } else if commented {
        ReviewDecision::Commented
    } else {
        ReviewDecision::None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::github::model::{GhCheckOutput, GhCheckRun, GhOwner};

    fn review(id: u64, who: &str, state: &str) -> GhReview {
        GhReview {
            id,
            user: Some(GhOwner { login: who.into() }),
            state: state.into(),
            body: Some("b".into()),
        }
    }

    /// Proves the review decision follows each reviewer's latest verdict and a change request wins.
    #[test]
    fn decisions() {
        assert_eq!(decision(&[]), ReviewDecision::None);
        assert_eq!(
            decision(&[review(1, "a", "COMMENTED")]),
            ReviewDecision::Commented
        );
        assert_eq!(
            decision(&[
                review(1, "a", "CHANGES_REQUESTED"),
                review(2, "a", "APPROVED")
            ]),
            ReviewDecision::Approved
        );
        assert_eq!(
            decision(&[
                review(1, "a", "APPROVED"),
                review(2, "b", "CHANGES_REQUESTED")
            ]),
            ReviewDecision::ChangesRequested
        );
        assert_eq!(
            decision(&[
                review(1, "a", "CHANGES_REQUESTED"),
                review(2, "a", "DISMISSED")
            ]),
            ReviewDecision::None
        );
    }

    /// Proves checks are summed: any failure fails (a check run's or a commit status's), running ones keep
    /// it pending, neutral passes.
    #[test]
    fn checks() {
        let run = |name: &str, status: &str, conclusion: Option<&str>| GhCheckRun {
            name: name.into(),
            status: status.into(),
            conclusion: conclusion.map(str::to_string),
            html_url: None,
            output: Some(GhCheckOutput {
                title: Some("1 test failed".into()),
                summary: Some("test_add: expected 4".into()),
            }),
        };
        let none = GhCombinedStatus::default();
        let s = summarize_checks(
            &GhCheckRuns {
                check_runs: vec![
                    run("lint", "completed", Some("success")),
                    run("docs", "completed", Some("neutral")),
                    run("test", "completed", Some("failure")),
                    run("e2e", "in_progress", None),
                ],
            },
            &none,
        );
        assert_eq!(
            (s.state, s.passed, s.failed, s.pending),
            (ChecksState::Failure, 2, 1, 1)
        );
        assert_eq!(s.failing[0].summary, "1 test failed: test_add: expected 4");
        let pending = summarize_checks(
            &GhCheckRuns {
                check_runs: vec![run("e2e", "queued", None)],
            },
            &none,
        );
        assert_eq!(pending.state, ChecksState::Pending);
        let nothing = GhCheckRuns { check_runs: vec![] };
        assert_eq!(summarize_checks(&nothing, &none).state, ChecksState::None);
        let jenkins = GhCombinedStatus {
            statuses: vec![crate::github::model::GhStatus {
                context: "ci/jenkins".into(),
                state: "error".into(),
                description: Some("build broke".into()),
                target_url: None,
            }],
        };
        let s = summarize_checks(&nothing, &jenkins);
        assert_eq!((s.state, s.failed), (ChecksState::Failure, 1));
        assert_eq!(s.failing[0].name, "ci/jenkins");
        assert_eq!(s.failing[0].summary, "build broke");
    }
}
