//! The run engine's side: claims and leases, turns (messages and function calls), finishing
//! and expiring runs.

use super::{
    LEASE, WORKER, all_asc, assert_invalid, assert_not_found, assert_recent, call, claim,
    function_tool, ids, new_assistant, new_run, new_thread, output, project_a, project_b,
    require_tool_outputs, turn, unix_now, usage, user_msg,
};
use assistd_core::ids::FreshId;
use assistd_core::{Lease, ObjectKind, Project, ProjectUsage, Store, TurnText};
use assistd_wire::{
    CreateThreadRequest, ImageFile, LastError, Message, MessageContent, MessageCreation,
    MessageIncompleteDetails, MessageRole, MessageStatus, Metadata, RunId, RunIncompleteDetails,
    RunStatus, RunStep, RunStepStatus, RunStepType, StepDetails, StepFunctionCall, StepToolCall,
    ThreadId, Usage,
};
use assistd_wire::{
    FileCitation, FileSearchCall, FileSearchRanker, FileSearchRankingUsed, FileSearchResult,
    FileSearchResultContent, RunToolCallObject, TextAnnotation,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_engine {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            claim_run_takes_oldest_queued,
            claim_run_is_exclusive,
            claim_run_is_fair_across_projects,
            claim_runs_takes_a_fair_batch,
            a_run_is_claimed_as_it_is_created,
            project_usage_counts_active_runs_and_file_bytes,
            claim_run_reclaims_after_lease_expiry,
            renew_and_release_lease,
            begin_and_complete_message,
            discard_partial_turn,
            save_text_shows_the_text_so_far,
            require_action_and_resume,
            server_tool_calls_and_citations,
            message_keeps_citations,
            finish_run_completed,
            complete_message_and_finish,
            finish_run_ends_open_work,
            finish_run_without_lease,
            expire_due_runs,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_engine as cases;

/// `claim_run` takes the oldest queued run of any project, moves it to `in_progress` with
/// `started_at`, and reports its project, additional instructions and attempt; it returns `None`
/// when no run is runnable (ended, waiting for tool outputs, or leased).
pub async fn claim_run_takes_oldest_queued(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    assert!(
        store.claim_run(WORKER, LEASE).await.unwrap().is_none(),
        "claim on an empty store"
    );
    let asst_a = new_assistant(&store, &a).await;
    let asst_b = new_assistant(&store, &b).await;

    // Not runnable: an ended run, and a run waiting for tool outputs.
    let t_cancelled = new_thread(&store, &a).await;
    let cancelled = store
        .create_run(&a, &t_cancelled, new_run(&asst_a))
        .await
        .unwrap();
    let cancelled = store
        .cancel_run(&a, &t_cancelled, &cancelled.id)
        .await
        .unwrap();
    let t_waiting = new_thread(&store, &a).await;
    let waiting = store
        .create_run(&a, &t_waiting, new_run(&asst_a))
        .await
        .unwrap();
    let (waiting, _) = require_tool_outputs(&store, &a, &waiting.id, vec![call("f", "{}")]).await;
    assert!(
        store.claim_run(WORKER, LEASE).await.unwrap().is_none(),
        "claim with no queued run"
    );

    // Runnable: three queued runs, in two projects.
    let t1 = new_thread(&store, &a).await;
    let mut nr = new_run(&asst_a);
    nr.additional_instructions = Some("Address the user as Jane.".to_owned());
    let r1 = store.create_run(&a, &t1, nr).await.unwrap();
    let t2 = new_thread(&store, &b).await;
    let r2 = store.create_run(&b, &t2, new_run(&asst_b)).await.unwrap();
    let t3 = new_thread(&store, &a).await;
    let r3 = store.create_run(&a, &t3, new_run(&asst_a)).await.unwrap();

    let t0 = unix_now();
    let c1 = claim(&store, "worker-1", &r1.id).await;
    assert_eq!(c1.project, a);
    assert_eq!(
        c1.additional_instructions.as_deref(),
        Some("Address the user as Jane.")
    );
    assert_eq!(c1.attempt, 1);
    assert_eq!(c1.run.status, RunStatus::InProgress);
    let started = c1.run.started_at.expect("started_at set by the claim");
    assert_recent(started, t0, "run.started_at");
    let mut want = r1.clone();
    want.status = RunStatus::InProgress;
    want.started_at = Some(started);
    assert_eq!(c1.run, want, "only status and started_at change");
    assert_eq!(store.get_run(&a, &t1, &r1.id).await.unwrap(), want);

    let c2 = claim(&store, "worker-2", &r2.id).await;
    assert_eq!(c2.project, b);
    assert_eq!(c2.additional_instructions, None);
    assert_eq!(c2.attempt, 1);
    assert_eq!(c2.run.status, RunStatus::InProgress);
    assert_eq!(store.get_run(&b, &t2, &r2.id).await.unwrap(), c2.run);

    let c3 = claim(&store, "worker-3", &r3.id).await;
    assert_eq!(c3.project, a);
    assert_eq!(c3.attempt, 1);
    assert!(
        store.claim_run("worker-4", LEASE).await.unwrap().is_none(),
        "every runnable run is leased"
    );

    // The runs that were not runnable are as they were.
    assert_eq!(
        store
            .get_run(&a, &t_cancelled, &cancelled.id)
            .await
            .unwrap(),
        cancelled
    );
    assert_eq!(
        store.get_run(&a, &t_waiting, &waiting.id).await.unwrap(),
        waiting
    );
}

/// Claims go to the project with the fewest runs executing, oldest run first, so a backlog of
/// one project never stands in front of another project's run; `claim_run_within` passes over
/// projects already executing as many runs as it allows.
pub async fn claim_run_is_fair_across_projects(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    let asst_a = new_assistant(&store, &a).await;
    let asst_b = new_assistant(&store, &b).await;
    let mut backlog = Vec::new();
    for _ in 0..4 {
        let t = new_thread(&store, &a).await;
        backlog.push(store.create_run(&a, &t, new_run(&asst_a)).await.unwrap().id);
    }
    let t = new_thread(&store, &b).await;
    let b1 = store.create_run(&b, &t, new_run(&asst_b)).await.unwrap().id;
    let t = new_thread(&store, &b).await;
    let b2 = store.create_run(&b, &t, new_run(&asst_b)).await.unwrap().id;

    // Both idle: the oldest run (A's). Then B, behind A's whole backlog, is next.
    claim(&store, "w1", &backlog[0]).await;
    claim(&store, "w2", &b1).await;
    // One each: the oldest again.
    claim(&store, "w3", &backlog[1]).await;
    // A executes two, B one: B.
    claim(&store, "w4", &b2).await;

    // With at most two per project, A (two executing) waits; B has nothing left.
    assert!(
        store
            .claim_run_within("w5", LEASE, 2)
            .await
            .unwrap()
            .is_none(),
        "a project at its cap is passed over"
    );
    // A higher cap lets A claim again.
    let c = store
        .claim_run_within("w5", LEASE, 3)
        .await
        .unwrap()
        .expect("A below a cap of three");
    assert_eq!(c.run.id, backlog[2]);
    // Only runs under a live lease count: a stalled worker's run (lease expired) is not
    // executing, and is itself claimable again.
    assert_eq!(
        store
            .renew_lease(&backlog[0], "w1", Duration::from_millis(1))
            .await
            .unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = store
        .claim_run_within("w6", LEASE, 3)
        .await
        .unwrap()
        .expect("A executes two under live leases");
    assert_eq!(c.run.id, backlog[0], "the expired lease's run, the oldest");
    assert_eq!(c.attempt, 2);
}

/// `claim_runs` claims a batch in one go, in the order one claim after another would take:
/// projects take turns (a backlog does not fill the batch), none past its cap; each run gets a
/// lease owner of its own, which its lease answers to; and batches claimed at once by several
/// claimers never share a run.
pub async fn claim_runs_takes_a_fair_batch(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    let asst_a = new_assistant(&store, &a).await;
    let asst_b = new_assistant(&store, &b).await;
    let mut backlog = Vec::new();
    for _ in 0..5 {
        let t = new_thread(&store, &a).await;
        backlog.push(store.create_run(&a, &t, new_run(&asst_a)).await.unwrap().id);
    }
    let t = new_thread(&store, &b).await;
    let b1 = store.create_run(&b, &t, new_run(&asst_b)).await.unwrap().id;

    // A cap of three, four asked for: A's oldest, B's only run, A's next two; not A's fourth.
    let batch = store.claim_runs("batch-1-", LEASE, 3, 4).await.unwrap();
    let mut got: Vec<RunId> = batch.iter().map(|c| c.run.id.clone()).collect();
    got.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let mut want = vec![
        backlog[0].clone(),
        b1.clone(),
        backlog[1].clone(),
        backlog[2].clone(),
    ];
    want.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    assert_eq!(got, want, "the batch takes turns between projects");
    for c in &batch {
        assert_eq!(
            c.worker,
            format!("batch-1-{}", c.run.id),
            "an owner per run"
        );
        assert_eq!(c.run.status, RunStatus::InProgress);
        assert_eq!(c.attempt, 1);
        assert_eq!(
            store
                .renew_lease(&c.run.id, &c.worker, LEASE)
                .await
                .unwrap(),
            Lease::Held(RunStatus::InProgress)
        );
        assert_eq!(
            store
                .renew_lease(&c.run.id, "batch-1-", LEASE)
                .await
                .unwrap(),
            Lease::Lost,
            "the batch's prefix alone holds nothing"
        );
    }
    // A is at its cap: nothing more, however many are asked for.
    assert!(
        store
            .claim_runs("batch-2-", LEASE, 3, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Several claimers at once over more runs: each run claimed once.
    let mut created = HashSet::new();
    for _ in 0..12 {
        let t = new_thread(&store, &b).await;
        created.insert(store.create_run(&b, &t, new_run(&asst_b)).await.unwrap().id);
    }
    let mut claimers = tokio::task::JoinSet::new();
    for i in 0..4 {
        let s = Arc::clone(&store);
        claimers.spawn(async move {
            s.claim_runs(&format!("racer-{i}-"), LEASE, u32::MAX, 5)
                .await
                .expect("claim_runs")
        });
    }
    let mut claimed = Vec::new();
    while let Some(joined) = claimers.join_next().await {
        claimed.extend(joined.expect("a claimer").into_iter().map(|c| c.run.id));
    }
    let mut left = store
        .claim_runs("last-", LEASE, u32::MAX, 20)
        .await
        .unwrap();
    claimed.extend(left.drain(..).map(|c| c.run.id));
    let once: HashSet<RunId> = claimed.iter().cloned().collect();
    assert_eq!(
        once.len(),
        claimed.len(),
        "no run claimed twice: {claimed:?}"
    );
    let backlog_left: HashSet<RunId> = backlog[3..].iter().cloned().collect();
    assert_eq!(
        once,
        created.union(&backlog_left).cloned().collect(),
        "every runnable run claimed"
    );
}

/// `create_run_claimed` and `create_thread_and_run_claimed` with a claim store the run already
/// claimed: the run comes back as created (`queued`), the claim as a claim does (in progress,
/// started, attempt 1, the owner asked for, whose lease it holds), and no other claim takes
/// it. Under a cap, a project at it, or with a run waiting, gets no claim: the run waits in
/// the queue for the next claim.
pub async fn a_run_is_claimed_as_it_is_created(store: Arc<dyn Store>) {
    let a = project_a();
    let asst = new_assistant(&store, &a).await;
    let ask = |owner: &str, cap: u32| assistd_core::ClaimAtCreation {
        worker: owner.to_owned(),
        lease: LEASE,
        max_per_project: cap,
    };
    let t = new_thread(&store, &a).await;
    let t0 = unix_now();
    let mut new = new_run(&asst);
    new.additional_instructions = Some("Be brief.".to_owned());
    new.temperature = Some(0.5);
    let (run, claimed) = store
        .create_run_claimed(&a, &t, new, Some(ask("here-1", u32::MAX)))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Queued, "the run as created");
    assert_eq!(run.started_at, None);
    let c = claimed.expect("claimed without a cap");
    assert_eq!(c.run.id, run.id);
    assert_eq!(c.run.status, RunStatus::InProgress);
    assert_recent(c.run.started_at.expect("started"), t0, "started_at");
    assert_eq!((c.worker.as_str(), c.attempt), ("here-1", 1));
    assert_eq!(c.project, a);
    assert_eq!(c.additional_instructions.as_deref(), Some("Be brief."));
    assert_eq!(c.sampling.temperature, Some(0.5));
    assert_eq!(c.sampling.top_p, None);
    let stored = store.get_run(&a, &t, &run.id).await.unwrap();
    assert_eq!(stored, c.run, "stored as claimed");
    assert_eq!(
        store.renew_lease(&run.id, "here-1", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    assert!(
        store.claim_run(WORKER, LEASE).await.unwrap().is_none(),
        "no other claim takes it"
    );

    // With a thread, and under a cap of two: one executes, so the second still starts here.
    let (thread, run2, claimed) = store
        .create_thread_and_run_claimed(
            &a,
            CreateThreadRequest::default(),
            new_run(&asst),
            Some(ask("here-2", 2)),
        )
        .await
        .unwrap();
    assert_eq!(run2.thread_id, thread.id);
    assert_eq!(run2.status, RunStatus::Queued);
    let c2 = claimed.expect("claimed under the cap");
    assert_eq!(
        (c2.run.status, c2.worker.as_str()),
        (RunStatus::InProgress, "here-2")
    );

    // Two execute: a third waits, and the next claim takes it.
    let t3 = new_thread(&store, &a).await;
    let (run3, claimed) = store
        .create_run_claimed(&a, &t3, new_run(&asst), Some(ask("here-3", 2)))
        .await
        .unwrap();
    assert!(claimed.is_none(), "the project is at its cap");
    assert_eq!(
        store.get_run(&a, &t3, &run3.id).await.unwrap().status,
        RunStatus::Queued
    );
    let next = store
        .claim_run(WORKER, LEASE)
        .await
        .unwrap()
        .expect("queued");
    assert_eq!(next.run.id, run3.id);

    // Under a cap, a project's run waiting in the queue goes first: a new one waits too.
    let b = project_b();
    let asst_b = new_assistant(&store, &b).await;
    let waiting = new_thread(&store, &b).await;
    store
        .create_run(&b, &waiting, new_run(&asst_b))
        .await
        .unwrap();
    let t4 = new_thread(&store, &b).await;
    let (_, claimed) = store
        .create_run_claimed(&b, &t4, new_run(&asst_b), Some(ask("here-4", 5)))
        .await
        .unwrap();
    assert!(claimed.is_none(), "one of the project's runs waits");
}

/// `project_usage` counts a project's runs that can occupy a worker (queued, in progress,
/// cancelling; not ended, not waiting for tool outputs) and its files' bytes, no other
/// project's.
pub async fn project_usage_counts_active_runs_and_file_bytes(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    assert_eq!(
        store.project_usage(&a).await.unwrap(),
        ProjectUsage::default()
    );
    let asst = new_assistant(&store, &a).await;
    let mut runs = Vec::new();
    for _ in 0..4 {
        let t = new_thread(&store, &a).await;
        runs.push((
            t.clone(),
            store.create_run(&a, &t, new_run(&asst)).await.unwrap(),
        ));
    }
    let (t0, r0) = &runs[0];
    store.cancel_run(&a, t0, &r0.id).await.unwrap();
    require_tool_outputs(&store, &a, &runs[1].1.id, vec![call("f", "{}")]).await;
    claim(&store, WORKER, &runs[2].1.id).await;
    for bytes in [40, 2] {
        store
            .create_file(
                &a,
                assistd_core::NewFile {
                    id: assistd_wire::FileId::fresh(),
                    filename: "f.txt".to_owned(),
                    bytes,
                    purpose: "assistants".to_owned(),
                    expires_after_secs: None,
                },
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.project_usage(&a).await.unwrap(),
        ProjectUsage {
            active_runs: 2,
            file_bytes: 42,
        },
        "one run in progress and one queued; a cancelled one and one awaiting outputs do not count"
    );
    assert_eq!(
        store.project_usage(&b).await.unwrap(),
        ProjectUsage::default()
    );
}

/// Concurrent claims never hand the same run to two workers.
pub async fn claim_run_is_exclusive(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let mut created = HashSet::new();
    for _ in 0..8 {
        let thread = new_thread(&store, &p).await;
        created.insert(
            store
                .create_run(&p, &thread, new_run(&asst))
                .await
                .unwrap()
                .id,
        );
    }
    let mut claims = tokio::task::JoinSet::new();
    for i in 0..16 {
        let s = Arc::clone(&store);
        claims.spawn(async move {
            let worker = format!("worker-{i}");
            let claimed = s.claim_run(&worker, LEASE).await.expect("claim_run");
            (worker, claimed)
        });
    }
    let mut claimed = Vec::new();
    while let Some(joined) = claims.join_next().await {
        let (worker, c) = joined.expect("claiming task");
        if let Some(c) = c {
            assert_eq!(c.attempt, 1, "{worker}: attempt of a fresh run");
            assert_eq!(c.run.status, RunStatus::InProgress);
            claimed.push((worker, c.run.id));
        }
    }
    let claimed_ids: HashSet<RunId> = claimed.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(claimed.len(), 8, "claims: {claimed:?}");
    assert_eq!(claimed_ids, created, "each run claimed exactly once");
    for (worker, id) in &claimed {
        assert_eq!(
            store.renew_lease(id, worker, LEASE).await.unwrap(),
            Lease::Held(RunStatus::InProgress),
            "{worker} holds {id}"
        );
    }
    assert!(store.claim_run("late", LEASE).await.unwrap().is_none());
}

/// A run whose lease expired (its worker stalled or died) is claimed again, `in_progress` or
/// `cancelling` as it was, with the attempt counted; its former worker has lost it.
pub async fn claim_run_reclaims_after_lease_expiry(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c1 = claim(&store, "worker-1", &run.id).await;
    assert_eq!(c1.attempt, 1);
    assert!(
        store.claim_run("worker-2", LEASE).await.unwrap().is_none(),
        "a leased run is not claimable"
    );

    // Worker 1 stalls: its (shortened) lease runs out.
    assert_eq!(
        store
            .renew_lease(&run.id, "worker-1", Duration::from_millis(50))
            .await
            .unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let c2 = store
        .claim_run("worker-2", LEASE)
        .await
        .unwrap()
        .expect("the run whose lease expired");
    assert_eq!(c2.run.id, run.id);
    assert_eq!(c2.attempt, 2);
    assert_eq!(c2.run.status, RunStatus::InProgress);
    assert_eq!(c2.run, c1.run, "a re-claim changes nothing visible");
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), c1.run);

    // Worker 1 lost it for good: it can neither renew, release, nor finish the run.
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Lost
    );
    store.release_run(&run.id, "worker-1").await.unwrap();
    assert_eq!(
        store
            .finish_run(&c1.run, "worker-1", RunStatus::Completed, None, None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.renew_lease(&run.id, "worker-2", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress),
        "worker 2 still holds the run"
    );
    assert!(store.claim_run("worker-3", LEASE).await.unwrap().is_none());

    // A cancelling run whose worker died is claimed again as cancelling, to end it.
    let cancelling = store.cancel_run(&p, &thread, &run.id).await.unwrap();
    assert_eq!(cancelling.status, RunStatus::Cancelling);
    assert_eq!(
        store
            .renew_lease(&run.id, "worker-2", Duration::from_millis(50))
            .await
            .unwrap(),
        Lease::Held(RunStatus::Cancelling)
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let c3 = store
        .claim_run("worker-3", LEASE)
        .await
        .unwrap()
        .expect("the cancelling run whose lease expired");
    assert_eq!(c3.run.id, run.id);
    assert_eq!(c3.attempt, 3);
    assert_eq!(c3.run.status, RunStatus::Cancelling);
    assert_eq!(c3.run.started_at, c1.run.started_at);
    assert_eq!(
        store
            .finish_run(&c3.run, "worker-2", RunStatus::Cancelled, None, None)
            .await
            .unwrap(),
        None,
        "the former owner cannot finish it"
    );
    let done = store
        .finish_run(&c3.run, "worker-3", RunStatus::Cancelled, None, None)
        .await
        .unwrap()
        .expect("worker 3 holds the lease");
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(store.claim_run("worker-4", LEASE).await.unwrap().is_none());
}

/// `renew_lease` reports the status to the owner (noticing `cancelling`) and `Lost` to anyone
/// else; `release_run` by the owner leaves the status and makes the run claimable at once.
pub async fn renew_and_release_lease(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Lost,
        "a queued run has no lease"
    );
    assert_eq!(
        store
            .renew_lease(&RunId::from("run_nope"), WORKER, LEASE)
            .await
            .unwrap(),
        Lease::Lost,
        "an unknown run"
    );

    let c1 = claim(&store, "worker-1", &run.id).await;
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    assert_eq!(
        store.renew_lease(&run.id, "worker-2", LEASE).await.unwrap(),
        Lease::Lost
    );

    // Only the owner releases.
    store.release_run(&run.id, "worker-2").await.unwrap();
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    assert!(store.claim_run("worker-2", LEASE).await.unwrap().is_none());
    store.release_run(&run.id, "worker-1").await.unwrap();
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Lost
    );
    assert_eq!(
        store.get_run(&p, &thread, &run.id).await.unwrap(),
        c1.run,
        "a release leaves the run as it was"
    );
    let c2 = claim(&store, "worker-2", &run.id).await;
    assert_eq!(c2.attempt, 2);
    assert_eq!(c2.run, c1.run);

    // A cancellation reaches the worker through its renewals.
    store.cancel_run(&p, &thread, &run.id).await.unwrap();
    assert_eq!(
        store.renew_lease(&run.id, "worker-2", LEASE).await.unwrap(),
        Lease::Held(RunStatus::Cancelling)
    );
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Lost
    );
    // The cancellation wins over a turn of function calls.
    assert_eq!(
        store
            .require_action(&c2.run, "worker-2", vec![call("f", "{}")], usage(1, 1))
            .await
            .unwrap(),
        None,
        "require_action on a cancelling run"
    );
    assert_eq!(
        store.get_run(&p, &thread, &run.id).await.unwrap().status,
        RunStatus::Cancelling
    );
    assert!(store.run_steps(&p, &run.id).await.unwrap().is_empty());
    store
        .finish_run(&c2.run, "worker-2", RunStatus::Cancelled, None, None)
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(
        store.renew_lease(&run.id, "worker-2", LEASE).await.unwrap(),
        Lease::Lost,
        "an ended run has no lease"
    );
}

/// `begin_message` starts an `in_progress` assistant message of the run and its
/// `message_creation` step; `complete_message` fills the text and completes both, storing the
/// usage on the step, or leaves the message `incomplete` with the reason. Neither works without
/// the lease.
pub async fn begin_and_complete_message(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![user_msg("Hi")]),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let thread = thread.id;
    let user = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap()
        .data
        .remove(0);
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, WORKER, &run.id).await;

    let t0 = unix_now();
    let (msg, step) = store.begin_message(&c.run, WORKER).await.unwrap();
    assert!(msg.id.as_str().starts_with("msg_"), "id {}", msg.id);
    assert_eq!(msg.object, "thread.message");
    assert_recent(msg.created_at, t0, "message.created_at");
    assert_eq!(msg.thread_id, thread);
    assert_eq!(msg.status, MessageStatus::InProgress);
    assert_eq!(msg.incomplete_details, None);
    assert_eq!(msg.completed_at, None);
    assert_eq!(msg.incomplete_at, None);
    assert_eq!(msg.role, MessageRole::Assistant);
    assert!(msg.content.is_empty(), "content {:?}", msg.content);
    assert_eq!(msg.assistant_id.as_ref(), Some(&asst));
    assert_eq!(msg.run_id.as_ref(), Some(&run.id));
    assert!(msg.file_ids.is_empty());
    assert_eq!(msg.metadata, None);
    assert_eq!(store.get_message(&p, &thread, &msg.id).await.unwrap(), msg);

    assert!(step.id.as_str().starts_with("step_"), "id {}", step.id);
    assert_eq!(step.object, "thread.run.step");
    assert_recent(step.created_at, t0, "step.created_at");
    assert_eq!(step.assistant_id, asst);
    assert_eq!(step.thread_id, thread);
    assert_eq!(step.run_id, run.id);
    assert_eq!(step.type_, RunStepType::MessageCreation);
    assert_eq!(step.status, RunStepStatus::InProgress);
    assert_eq!(
        step.step_details,
        StepDetails::MessageCreation {
            message_creation: MessageCreation {
                message_id: msg.id.to_string(),
            },
        }
    );
    assert_eq!(step.last_error, None);
    assert_eq!(step.completed_at, None);
    assert_eq!(step.usage, None);
    assert_eq!(
        store
            .get_run_step(&p, &thread, &run.id, &step.id)
            .await
            .unwrap(),
        step
    );
    assert_eq!(
        thread_messages(&store, &p, &thread).await,
        vec![user.clone(), msg.clone()]
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![step.clone()]
    );

    // Without the lease, nothing is written.
    assert!(
        store.begin_message(&c.run, "worker-2").await.is_err(),
        "begin_message without the lease"
    );
    assert!(
        store
            .complete_message(
                &c.run,
                "worker-2",
                &msg.id,
                &step.id,
                &turn("hijacked", usage(1, 1)),
            )
            .await
            .is_err(),
        "complete_message without the lease"
    );
    assert_eq!(
        thread_messages(&store, &p, &thread).await,
        vec![user.clone(), msg.clone()]
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![step.clone()]
    );

    // Completion.
    let t1 = unix_now();
    let (returned, returned_step) = store
        .complete_message(
            &c.run,
            WORKER,
            &msg.id,
            &step.id,
            &turn("Hello! How can I help?", usage(12, 7)),
        )
        .await
        .unwrap();
    let done = store.get_message(&p, &thread, &msg.id).await.unwrap();
    assert_eq!(returned, done, "the message returned is the message stored");
    assert_recent(
        done.completed_at.expect("message.completed_at"),
        t1,
        "message.completed_at",
    );
    let mut want = msg.clone();
    want.status = MessageStatus::Completed;
    want.completed_at = done.completed_at;
    want.content = vec![MessageContent::text("Hello! How can I help?")];
    assert_eq!(done, want);
    let done_step = store
        .get_run_step(&p, &thread, &run.id, &step.id)
        .await
        .unwrap();
    assert_recent(
        done_step.completed_at.expect("step.completed_at"),
        t1,
        "step.completed_at",
    );
    let mut want_step = step.clone();
    want_step.status = RunStepStatus::Completed;
    want_step.completed_at = done_step.completed_at;
    want_step.usage = Some(usage(12, 7));
    assert_eq!(done_step, want_step);
    assert_eq!(
        returned_step, done_step,
        "the step returned is the step stored"
    );
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress),
        "the run goes on"
    );

    // A turn cut short: the message is incomplete with the reason, the step completed.
    let (cut, cut_step) = store.begin_message(&c.run, WORKER).await.unwrap();
    assert_ne!(cut.id, msg.id);
    assert_ne!(cut_step.id, step.id);
    store
        .complete_message(
            &c.run,
            WORKER,
            &cut.id,
            &cut_step.id,
            &TurnText {
                text: "Once upon a".to_owned(),
                usage: usage(20, 16),
                incomplete: Some("max_tokens".to_owned()),
                annotations: Vec::new(),
                images: vec!["file-chart".to_owned()],
            },
        )
        .await
        .unwrap();
    let cut_done = store.get_message(&p, &thread, &cut.id).await.unwrap();
    assert_recent(
        cut_done.incomplete_at.expect("message.incomplete_at"),
        t1,
        "message.incomplete_at",
    );
    let mut want_cut = cut.clone();
    want_cut.status = MessageStatus::Incomplete;
    want_cut.incomplete_at = cut_done.incomplete_at;
    want_cut.incomplete_details = Some(MessageIncompleteDetails {
        reason: "max_tokens".to_owned(),
    });
    // The images the run's code drew come first, then the text.
    want_cut.content = vec![
        MessageContent::ImageFile {
            image_file: ImageFile {
                file_id: "file-chart".to_owned(),
                detail: None,
            },
        },
        MessageContent::text("Once upon a"),
    ];
    assert_eq!(cut_done, want_cut);
    let cut_step_done = store
        .get_run_step(&p, &thread, &run.id, &cut_step.id)
        .await
        .unwrap();
    assert_eq!(cut_step_done.status, RunStepStatus::Completed);
    assert!(cut_step_done.completed_at.is_some());
    assert_eq!(cut_step_done.usage, Some(usage(20, 16)));

    assert_eq!(
        thread_messages(&store, &p, &thread).await,
        vec![user, done, cut_done]
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![want_step, cut_step_done]
    );
}

/// `save_text` stores the text written so far into the run's `in_progress` message, after its
/// images and as a text part without annotations (the completed message's shape), and only
/// under the run's lease and while the message is in progress: a worker that lost the run, or
/// a flush that comes after the message completed, writes nothing. `thread_history` still
/// leaves the message out, and `discard_partial_turn` still removes it.
pub async fn save_text_shows_the_text_so_far(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, "worker-1", &run.id).await;
    let (m, s) = store.begin_message(&c.run, "worker-1").await.unwrap();
    let images = vec!["file-img".to_owned()];
    let content = |text: &str| {
        vec![
            MessageContent::ImageFile {
                image_file: ImageFile {
                    file_id: "file-img".to_owned(),
                    detail: None,
                },
            },
            MessageContent::text(text),
        ]
    };

    store
        .save_text(&c.run, "worker-1", &m.id, &images, "Hello")
        .await
        .unwrap();
    let mut want = m.clone();
    want.content = content("Hello");
    assert_eq!(store.get_message(&p, &thread, &m.id).await.unwrap(), want);
    store
        .save_text(&c.run, "worker-1", &m.id, &images, "Hello wor")
        .await
        .unwrap();
    want.content = content("Hello wor");
    assert_eq!(store.get_message(&p, &thread, &m.id).await.unwrap(), want);
    assert!(
        store
            .thread_history(&p, &thread, &RunId::fresh(), None, 10)
            .await
            .unwrap()
            .is_empty(),
        "a message in progress is no one's history"
    );

    // Without the lease: nothing written.
    store
        .save_text(&c.run, "worker-2", &m.id, &images, "stale")
        .await
        .unwrap();
    assert_eq!(store.get_message(&p, &thread, &m.id).await.unwrap(), want);

    // A flush after the message completed changes nothing.
    let mut done = turn("Hello world", usage(3, 2));
    done.images.clone_from(&images);
    let (completed, _) = store
        .complete_message(&c.run, "worker-1", &m.id, &s.id, &done)
        .await
        .unwrap();
    store
        .save_text(&c.run, "worker-1", &m.id, &images, "Hello wor")
        .await
        .unwrap();
    assert_eq!(
        store.get_message(&p, &thread, &m.id).await.unwrap(),
        completed
    );
    assert_eq!(completed.content, content("Hello world"));

    // A turn cut off after a flush is discarded whole by the run's next owner.
    let (m2, _) = store.begin_message(&c.run, "worker-1").await.unwrap();
    store
        .save_text(&c.run, "worker-1", &m2.id, &[], "Half")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_message(&p, &thread, &m2.id)
            .await
            .unwrap()
            .content,
        vec![MessageContent::text("Half")]
    );
    store.release_run(&run.id, "worker-1").await.unwrap();
    let _c2 = claim(&store, "worker-2", &run.id).await;
    store
        .save_text(&c.run, "worker-1", &m2.id, &[], "Half a")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_message(&p, &thread, &m2.id)
            .await
            .unwrap()
            .content,
        vec![MessageContent::text("Half")],
        "the run's former worker writes nothing"
    );
    store
        .discard_partial_turn(&run.id, "worker-2")
        .await
        .unwrap();
    assert_not_found(
        store.get_message(&p, &thread, &m2.id).await,
        ObjectKind::Message,
        &m2.id,
    );
}

/// `discard_partial_turn` removes the run's `in_progress` message and its step, so that a
/// worker taking a run over retries the turn cleanly; finished turns, other runs' turns, and
/// calls without the lease are left alone.
pub async fn discard_partial_turn(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let other_run = store.create_run(&p, &other, new_run(&asst)).await.unwrap();
    let c = claim(&store, "worker-1", &run.id).await;
    let co = claim(&store, "worker-o", &other_run.id).await;

    // A finished turn, then one cut off by the worker's death.
    let (m1, s1) = store.begin_message(&c.run, "worker-1").await.unwrap();
    store
        .complete_message(
            &c.run,
            "worker-1",
            &m1.id,
            &s1.id,
            &turn("one", usage(5, 1)),
        )
        .await
        .unwrap();
    let m1 = store.get_message(&p, &thread, &m1.id).await.unwrap();
    let s1 = store
        .get_run_step(&p, &thread, &run.id, &s1.id)
        .await
        .unwrap();
    let (m2, s2) = store.begin_message(&c.run, "worker-1").await.unwrap();
    // Another run's turn in progress.
    let (mo, so) = store.begin_message(&co.run, "worker-o").await.unwrap();

    // Without the lease, nothing is discarded.
    store
        .discard_partial_turn(&run.id, "worker-2")
        .await
        .unwrap();
    assert_eq!(store.get_message(&p, &thread, &m2.id).await.unwrap(), m2);
    assert_eq!(
        store
            .get_run_step(&p, &thread, &run.id, &s2.id)
            .await
            .unwrap(),
        s2
    );

    // Worker 1 is gone; worker 2 takes the run over and discards the partial turn.
    store.release_run(&run.id, "worker-1").await.unwrap();
    let c2 = claim(&store, "worker-2", &run.id).await;
    assert_eq!(c2.attempt, 2);
    store
        .discard_partial_turn(&run.id, "worker-2")
        .await
        .unwrap();
    assert_not_found(
        store.get_message(&p, &thread, &m2.id).await,
        ObjectKind::Message,
        &m2.id,
    );
    assert_not_found(
        store.get_run_step(&p, &thread, &run.id, &s2.id).await,
        ObjectKind::RunStep,
        &s2.id,
    );
    assert_eq!(thread_messages(&store, &p, &thread).await, vec![m1.clone()]);
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![s1.clone()]
    );
    // The other run's turn is untouched.
    assert_eq!(store.get_message(&p, &other, &mo.id).await.unwrap(), mo);
    assert_eq!(
        store.run_steps(&p, &other_run.id).await.unwrap(),
        vec![so.clone()]
    );

    // Nothing left to discard.
    store
        .discard_partial_turn(&run.id, "worker-2")
        .await
        .unwrap();
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        vec![s1.clone()]
    );
    // The retried turn goes through.
    let (m3, s3) = store.begin_message(&c2.run, "worker-2").await.unwrap();
    store
        .complete_message(
            &c2.run,
            "worker-2",
            &m3.id,
            &s3.id,
            &turn("two", usage(6, 2)),
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&store
            .list_messages(&p, &thread, &all_asc(), None)
            .await
            .unwrap()),
        vec![m1.id.to_string(), m3.id.to_string()]
    );
    assert_eq!(
        ids(&store
            .list_run_steps(&p, &thread, &run.id, &all_asc())
            .await
            .unwrap()),
        vec![s1.id.to_string(), s3.id.to_string()]
    );
}

/// `require_action` records a turn of function calls as an `in_progress` `tool_calls` step,
/// puts the run in `requires_action` with one `call_` id per call, and releases the lease;
/// `submit_tool_outputs` queues the run again for the next claim. Without the lease it does
/// nothing.
pub async fn require_action_and_resume(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let mut nr = new_run(&asst);
    nr.tools = vec![function_tool("get_weather"), function_tool("get_time")];
    let run = store.create_run(&p, &thread, nr).await.unwrap();
    let c1 = call("get_weather", r#"{"city":"Paris"}"#);
    let c2 = call("get_time", r#"{"city":"Tokyo"}"#);

    // Not claimed, or claimed by someone else: nothing happens.
    assert_eq!(
        store
            .require_action(&run, WORKER, vec![c1.clone()], usage(1, 1))
            .await
            .unwrap(),
        None,
        "require_action on a queued run"
    );
    let c = claim(&store, WORKER, &run.id).await;
    assert_eq!(
        store
            .require_action(&c.run, "worker-2", vec![c1.clone()], usage(1, 1))
            .await
            .unwrap(),
        None,
        "require_action without the lease"
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), c.run);
    assert!(store.run_steps(&p, &run.id).await.unwrap().is_empty());

    let t0 = unix_now();
    let ra = store
        .require_action(&c.run, WORKER, vec![c1.clone(), c2.clone()], usage(30, 12))
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(ra.status, RunStatus::RequiresAction);
    let action = ra.required_action.clone().expect("required_action");
    assert_eq!(action.type_, "submit_tool_outputs");
    let calls = &action.submit_tool_outputs.tool_calls;
    assert_eq!(calls.len(), 2);
    for (got, sent) in calls.iter().zip([&c1, &c2]) {
        assert!(got.id.starts_with("call_"), "call id {}", got.id);
        assert_eq!(got.type_, "function");
        assert_eq!(&got.function, sent);
    }
    assert_ne!(calls[0].id, calls[1].id);
    let mut want = c.run.clone();
    want.status = RunStatus::RequiresAction;
    want.required_action = Some(action.clone());
    assert_eq!(ra, want, "only status and required_action change");
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), ra);

    let steps = store.run_steps(&p, &run.id).await.unwrap();
    assert_eq!(steps.len(), 1);
    let step = steps[0].clone();
    assert!(step.id.as_str().starts_with("step_"), "id {}", step.id);
    assert_recent(step.created_at, t0, "step.created_at");
    assert_eq!(step.assistant_id, asst);
    assert_eq!(step.thread_id, thread);
    assert_eq!(step.run_id, run.id);
    assert_eq!(step.type_, RunStepType::ToolCalls);
    assert_eq!(step.status, RunStepStatus::InProgress);
    assert_eq!(step.completed_at, None);
    assert_eq!(step.usage, None, "no usage while the step is in progress");
    let step_calls = |outputs: [Option<&str>; 2]| StepDetails::ToolCalls {
        tool_calls: calls
            .iter()
            .zip(outputs)
            .map(|(c, out)| StepToolCall::Function {
                id: c.id.clone(),
                function: StepFunctionCall {
                    name: c.function.name.clone(),
                    arguments: c.function.arguments.clone(),
                    output: out.map(str::to_owned),
                },
            })
            .collect(),
    };
    assert_eq!(step.step_details, step_calls([None, None]));
    assert_eq!(
        store
            .list_run_steps(&p, &thread, &run.id, &all_asc())
            .await
            .unwrap()
            .data,
        steps
    );

    // The lease went with the turn: the worker cannot go on, and nobody can claim the run.
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Lost
    );
    assert!(store.claim_run("worker-2", LEASE).await.unwrap().is_none());
    assert_eq!(
        store
            .require_action(&c.run, WORKER, vec![c1.clone()], usage(1, 1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .finish_run(&c.run, WORKER, RunStatus::Completed, None, None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), ra);
    assert_eq!(store.run_steps(&p, &run.id).await.unwrap(), steps);

    // The outputs queue the run again; the next claim picks it up where it was.
    let queued = store
        .submit_tool_outputs(
            &p,
            &thread,
            &run.id,
            vec![output(&calls[0].id, "sunny"), output(&calls[1].id, "09:00")],
        )
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    assert_eq!(queued.required_action, None);
    let done_step = store
        .get_run_step(&p, &thread, &run.id, &step.id)
        .await
        .unwrap();
    assert_eq!(done_step.status, RunStepStatus::Completed);
    assert_eq!(
        done_step.usage,
        Some(usage(30, 12)),
        "the turn's usage shows once the step ended"
    );
    assert_eq!(
        done_step.step_details,
        step_calls([Some("sunny"), Some("09:00")])
    );
    let again = claim(&store, "worker-2", &run.id).await;
    assert_eq!(again.attempt, 2);
    assert_eq!(again.run.status, RunStatus::InProgress);
    assert_eq!(again.run.started_at, c.run.started_at, "started_at is kept");
    assert_eq!(again.run.required_action, None);

    // The run's usage counts the tool-calls turn.
    let (m, s) = store.begin_message(&again.run, "worker-2").await.unwrap();
    store
        .complete_message(
            &again.run,
            "worker-2",
            &m.id,
            &s.id,
            &turn("Sunny, 09:00.", usage(50, 8)),
        )
        .await
        .unwrap();
    let fin = store
        .finish_run(&again.run, "worker-2", RunStatus::Completed, None, None)
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(fin.usage, Some(usage(80, 20)));
}

/// Asserts that `msg` and its step `step`, of `run_id`, read back as they are.
async fn assert_turn_reads_back(
    store: &Arc<dyn Store>,
    p: &Project,
    thread: &ThreadId,
    run_id: &RunId,
    msg: &Message,
    step: &RunStep,
) {
    assert_eq!(&store.get_message(p, thread, &msg.id).await.unwrap(), msg);
    assert_eq!(
        &store
            .get_run_step(p, thread, run_id, &step.id)
            .await
            .unwrap(),
        step
    );
}

/// `complete_message_and_finish` completes the turn's message and step and ends the run in one
/// write, as `complete_message` then `finish_run` would: the run's usage sums every step's, the
/// one completed with it included, and the run's other open work ends with it (an incomplete
/// end cuts its other open messages short). Without the lease it writes nothing.
pub async fn complete_message_and_finish(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, WORKER, &run.id).await;
    let (m1, s1) = store.begin_message(&c.run, WORKER).await.unwrap();
    store
        .complete_message(
            &c.run,
            WORKER,
            &m1.id,
            &s1.id,
            &turn("Let me check.", usage(10, 5)),
        )
        .await
        .unwrap();
    // Another message opened and left open: a completed run leaves it as it is.
    let (left_open, _) = store.begin_message(&c.run, WORKER).await.unwrap();
    let (m2, s2) = store.begin_message(&c.run, WORKER).await.unwrap();

    assert_invalid(
        store
            .complete_message_and_finish(
                &c.run,
                "worker-2",
                &m2.id,
                &s2.id,
                &turn("hijacked", usage(1, 1)),
                RunStatus::Completed,
                None,
            )
            .await,
    );
    assert_turn_reads_back(&store, &p, &thread, &run.id, &m2, &s2).await;
    assert_eq!(
        store.get_run(&p, &thread, &run.id).await.unwrap().status,
        RunStatus::InProgress
    );

    let t0 = unix_now();
    let (msg, step, fin) = store
        .complete_message_and_finish(
            &c.run,
            WORKER,
            &m2.id,
            &s2.id,
            &turn("It is 42.", usage(1, 2)),
            RunStatus::Completed,
            None,
        )
        .await
        .unwrap();
    assert_eq!(msg.status, MessageStatus::Completed);
    assert_recent(
        msg.completed_at.expect("completed_at"),
        t0,
        "message.completed_at",
    );
    assert_eq!(step.status, RunStepStatus::Completed);
    assert_eq!(step.usage, Some(usage(1, 2)));
    assert_eq!(fin.status, RunStatus::Completed);
    assert_eq!(fin.usage, Some(usage(11, 7)), "both turns' usage");
    assert_recent(
        fin.completed_at.expect("completed_at"),
        t0,
        "run.completed_at",
    );
    assert_eq!(fin.expires_at, None);
    assert_turn_reads_back(&store, &p, &thread, &run.id, &msg, &step).await;
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), fin);
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Lost
    );
    assert_eq!(
        store.get_message(&p, &thread, &left_open.id).await.unwrap(),
        left_open
    );

    // Cut short by a token budget, with another message of the run still open; the run's
    // settings come back as they were stored.
    let mut settings = new_run(&asst);
    settings.temperature = Some(1.694_867_473_874_465_3);
    settings.top_p = Some(0.987_654_321_098_765_4);
    settings.max_completion_tokens = Some(7);
    settings.metadata = Some(Metadata::from_iter([("k".to_owned(), "v".to_owned())]));
    let run = store.create_run(&p, &thread, settings).await.unwrap();
    let c = claim(&store, WORKER, &run.id).await;
    let (open, open_step) = store.begin_message(&c.run, WORKER).await.unwrap();
    let (last, last_step) = store.begin_message(&c.run, WORKER).await.unwrap();
    let mut cut = turn("It is", usage(4, 3));
    cut.incomplete = Some("max_tokens".to_owned());
    let (msg, step, fin) = store
        .complete_message_and_finish(
            &c.run,
            WORKER,
            &last.id,
            &last_step.id,
            &cut,
            RunStatus::Incomplete,
            Some("max_completion_tokens"),
        )
        .await
        .unwrap();
    assert_eq!(msg.status, MessageStatus::Incomplete);
    assert_eq!(
        msg.incomplete_details.as_ref().map(|d| d.reason.as_str()),
        Some("max_tokens")
    );
    assert_eq!(step.status, RunStepStatus::Completed);
    assert_eq!(fin.status, RunStatus::Incomplete);
    assert_eq!(
        fin.incomplete_details
            .as_ref()
            .and_then(|d| d.reason.as_deref()),
        Some("max_completion_tokens")
    );
    assert_eq!(fin.usage, Some(usage(4, 3)));
    assert_eq!(fin.temperature, Some(1.694_867_473_874_465_3));
    assert_eq!(fin.metadata, run.metadata);
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), fin);
    assert_turn_reads_back(&store, &p, &thread, &run.id, &msg, &step).await;
    let open = store.get_message(&p, &thread, &open.id).await.unwrap();
    assert_eq!(
        open.status,
        MessageStatus::Incomplete,
        "the other open message"
    );
    assert_eq!(
        open.incomplete_details.as_ref().map(|d| d.reason.as_str()),
        Some("max_tokens")
    );
    assert_eq!(open.incomplete_at, fin.completed_at);
    let open_step = store
        .get_run_step(&p, &thread, &run.id, &open_step.id)
        .await
        .unwrap();
    assert_eq!(
        open_step.status,
        RunStepStatus::Completed,
        "the other open step"
    );
    assert_eq!(open_step.completed_at, fin.completed_at);
}

/// `finish_run` with `completed`: `completed_at`, the usage summed over the steps, the lease and
/// any pending action gone; an `incomplete_details` reason is kept.
pub async fn finish_run_completed(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();

    // Three turns: a message, function calls, a message.
    let c = claim(&store, WORKER, &run.id).await;
    let (m1, s1) = store.begin_message(&c.run, WORKER).await.unwrap();
    store
        .complete_message(
            &c.run,
            WORKER,
            &m1.id,
            &s1.id,
            &turn("Let me check.", usage(10, 5)),
        )
        .await
        .unwrap();
    let ra = store
        .require_action(&c.run, WORKER, vec![call("f", "{}")], usage(3, 2))
        .await
        .unwrap()
        .expect("lease held");
    let call_id = ra.required_action.unwrap().submit_tool_outputs.tool_calls[0]
        .id
        .clone();
    store
        .submit_tool_outputs(&p, &thread, &run.id, vec![output(&call_id, "42")])
        .await
        .unwrap();
    let c = claim(&store, WORKER, &run.id).await;
    let (m2, s2) = store.begin_message(&c.run, WORKER).await.unwrap();
    store
        .complete_message(
            &c.run,
            WORKER,
            &m2.id,
            &s2.id,
            &turn("It is 42.", usage(1, 1)),
        )
        .await
        .unwrap();
    let msgs = thread_messages(&store, &p, &thread).await;
    let steps = store.run_steps(&p, &run.id).await.unwrap();
    assert_eq!(steps.len(), 3);

    let t0 = unix_now();
    let fin = store
        .finish_run(&c.run, WORKER, RunStatus::Completed, None, None)
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(fin.status, RunStatus::Completed);
    assert_recent(
        fin.completed_at.expect("completed_at"),
        t0,
        "run.completed_at",
    );
    let mut want = c.run.clone();
    want.status = RunStatus::Completed;
    want.completed_at = fin.completed_at;
    want.usage = Some(usage(14, 8));
    want.expires_at = None;
    assert_eq!(
        fin, want,
        "status, completed_at, usage and expires_at change"
    );
    assert_eq!(fin.started_at, c.run.started_at);
    assert!(run.expires_at.is_some());
    assert_eq!(fin.expires_at, None, "an ended run no longer expires");
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), fin);
    assert_eq!(
        thread_messages(&store, &p, &thread).await,
        msgs,
        "finished messages stay"
    );
    assert_eq!(
        store.run_steps(&p, &run.id).await.unwrap(),
        steps,
        "finished steps stay"
    );

    // Ended: no lease, not claimable, not cancellable, not finishable again.
    assert_eq!(
        store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
        Lease::Lost
    );
    assert!(store.claim_run(WORKER, LEASE).await.unwrap().is_none());
    assert_invalid(store.cancel_run(&p, &thread, &run.id).await);
    assert_eq!(
        store
            .finish_run(&c.run, WORKER, RunStatus::Failed, None, None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), fin);

    // Completed with a reason, and without steps (usage zero).
    let r2 = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c2 = claim(&store, WORKER, &r2.id).await;
    let fin2 = store
        .finish_run(
            &c2.run,
            WORKER,
            RunStatus::Completed,
            None,
            Some("max_completion_tokens"),
        )
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(fin2.status, RunStatus::Completed);
    assert_eq!(
        fin2.incomplete_details,
        Some(RunIncompleteDetails {
            reason: Some("max_completion_tokens".to_owned()),
        })
    );
    assert_eq!(fin2.usage, Some(Usage::default()));
    assert_eq!(store.get_run(&p, &thread, &r2.id).await.unwrap(), fin2);
}

/// `finish_run` with `failed`, `cancelled` or `expired`: the matching timestamp (`expires_at`
/// becomes null, whichever way the run ended) and `last_error`; open steps end with the run's status and open
/// messages become `incomplete` (`run_failed`, `run_cancelled`, `run_expired`); finished work
/// stays; the thread is free again.
pub async fn finish_run_ends_open_work(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    for (status, step_status, reason) in [
        (RunStatus::Failed, RunStepStatus::Failed, "run_failed"),
        (
            RunStatus::Cancelled,
            RunStepStatus::Cancelled,
            "run_cancelled",
        ),
        (RunStatus::Expired, RunStepStatus::Expired, "run_expired"),
    ] {
        let ctx = status.as_str();
        let thread = new_thread(&store, &p).await;
        let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
        let c = claim(&store, WORKER, &run.id).await;
        let (m1, s1) = store.begin_message(&c.run, WORKER).await.unwrap();
        store
            .complete_message(&c.run, WORKER, &m1.id, &s1.id, &turn("Done.", usage(4, 2)))
            .await
            .unwrap();
        let m1 = store.get_message(&p, &thread, &m1.id).await.unwrap();
        let s1 = store
            .get_run_step(&p, &thread, &run.id, &s1.id)
            .await
            .unwrap();
        let (m2, s2) = store.begin_message(&c.run, WORKER).await.unwrap();
        if status == RunStatus::Cancelled {
            store.cancel_run(&p, &thread, &run.id).await.unwrap();
            assert_eq!(
                store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
                Lease::Held(RunStatus::Cancelling)
            );
        }
        let last_error = (status == RunStatus::Failed).then(|| LastError {
            code: "server_error".to_owned(),
            message: "The model failed.".to_owned(),
        });

        let t0 = unix_now();
        let fin = store
            .finish_run(&c.run, WORKER, status, last_error.clone(), None)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{ctx}: lease held"));
        assert_eq!(fin.status, status, "{ctx}");
        assert_eq!(fin.last_error, last_error, "{ctx}: last_error");
        assert_eq!(fin.required_action, None, "{ctx}");
        assert_eq!(fin.usage, Some(usage(4, 2)), "{ctx}: usage");
        assert_eq!(fin.started_at, c.run.started_at, "{ctx}: started_at");
        assert_eq!(fin.completed_at, None, "{ctx}: completed_at");
        assert_eq!(fin.expires_at, None, "{ctx}: expires_at");
        match status {
            RunStatus::Failed => {
                assert_recent(fin.failed_at.expect("failed_at"), t0, "run.failed_at");
                assert_eq!(fin.cancelled_at, None, "{ctx}: cancelled_at");
            }
            RunStatus::Cancelled => {
                assert_recent(
                    fin.cancelled_at.expect("cancelled_at"),
                    t0,
                    "run.cancelled_at",
                );
                assert_eq!(fin.failed_at, None, "{ctx}: failed_at");
            }
            _ => {
                assert_eq!(fin.failed_at, None, "{ctx}: failed_at");
                assert_eq!(fin.cancelled_at, None, "{ctx}: cancelled_at");
            }
        }
        assert_eq!(
            store.get_run(&p, &thread, &run.id).await.unwrap(),
            fin,
            "{ctx}"
        );

        // The open step ends with the run.
        let s2_done = store
            .get_run_step(&p, &thread, &run.id, &s2.id)
            .await
            .unwrap();
        let at = match status {
            RunStatus::Failed => s2_done.failed_at,
            RunStatus::Cancelled => s2_done.cancelled_at,
            _ => s2_done.expired_at,
        };
        assert_recent(at.expect("step end timestamp"), t0, "step end timestamp");
        let mut want_step = s2.clone();
        want_step.status = step_status;
        match status {
            RunStatus::Failed => want_step.failed_at = at,
            RunStatus::Cancelled => want_step.cancelled_at = at,
            _ => want_step.expired_at = at,
        }
        want_step.last_error = s2_done.last_error.clone();
        assert_eq!(s2_done, want_step, "{ctx}: open step");
        // The open message is incomplete.
        let m2_done = store.get_message(&p, &thread, &m2.id).await.unwrap();
        assert_recent(
            m2_done.incomplete_at.expect("message.incomplete_at"),
            t0,
            "message.incomplete_at",
        );
        let mut want_msg = m2.clone();
        want_msg.status = MessageStatus::Incomplete;
        want_msg.incomplete_at = m2_done.incomplete_at;
        want_msg.incomplete_details = Some(MessageIncompleteDetails {
            reason: reason.to_owned(),
        });
        assert_eq!(m2_done, want_msg, "{ctx}: open message");
        // Finished work stays.
        assert_eq!(
            store.get_message(&p, &thread, &m1.id).await.unwrap(),
            m1,
            "{ctx}"
        );
        assert_eq!(
            store
                .get_run_step(&p, &thread, &run.id, &s1.id)
                .await
                .unwrap(),
            s1,
            "{ctx}"
        );
        // No lease, and a free thread.
        assert_eq!(
            store.renew_lease(&run.id, WORKER, LEASE).await.unwrap(),
            Lease::Lost,
            "{ctx}"
        );
        store
            .create_message(&p, &thread, user_msg("next"))
            .await
            .unwrap_or_else(|e| panic!("{ctx}: message after the run ended: {e:?}"));
    }
}

/// `finish_run` by a worker without the lease returns `None` and changes nothing; a
/// non-terminal status is refused and changes nothing either.
pub async fn finish_run_without_lease(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, "worker-1", &run.id).await;
    let (m1, s1) = store.begin_message(&c.run, "worker-1").await.unwrap();
    store
        .complete_message(
            &c.run,
            "worker-1",
            &m1.id,
            &s1.id,
            &turn("one", usage(2, 2)),
        )
        .await
        .unwrap();
    store.begin_message(&c.run, "worker-1").await.unwrap();
    let before_run = store.get_run(&p, &thread, &run.id).await.unwrap();
    let before_msgs = thread_messages(&store, &p, &thread).await;
    let before_steps = store.run_steps(&p, &run.id).await.unwrap();

    for status in [
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Expired,
    ] {
        assert_eq!(
            store
                .finish_run(&c.run, "worker-2", status, None, None)
                .await
                .unwrap(),
            None,
            "finish_run({}) without the lease",
            status.as_str()
        );
    }
    assert!(
        store
            .finish_run(&c.run, "worker-1", RunStatus::Queued, None, None)
            .await
            .is_err(),
        "finish_run with a non-terminal status"
    );
    assert_eq!(
        store.get_run(&p, &thread, &run.id).await.unwrap(),
        before_run
    );
    assert_eq!(thread_messages(&store, &p, &thread).await, before_msgs);
    assert_eq!(store.run_steps(&p, &run.id).await.unwrap(), before_steps);
    assert_eq!(
        store.renew_lease(&run.id, "worker-1", LEASE).await.unwrap(),
        Lease::Held(RunStatus::InProgress),
        "the owner still holds the run"
    );
}

/// `expire_due_runs` expires the runs past `expires_at` that no live worker holds: queued,
/// waiting for tool outputs, or abandoned mid-turn (lease expired), ending their open steps and
/// messages; a leased run, an ended run and a run not yet due are left alone.
#[expect(
    clippy::many_single_char_names,
    reason = "`p` is the project as in every case; the others are the runs read back, one line each"
)]
pub async fn expire_due_runs(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    assert_eq!(store.expire_due_runs().await.unwrap(), 0, "empty store");
    // `expires_at` one second before creation: due at once.
    let due = || {
        let mut nr = new_run(&asst);
        nr.expires_after_secs = -1;
        nr
    };

    // Leased by a live worker.
    let t_leased = new_thread(&store, &p).await;
    let leased = store.create_run(&p, &t_leased, due()).await.unwrap();
    assert_eq!(leased.expires_at, Some(leased.created_at - 1));
    let c_leased = claim(&store, "worker-1", &leased.id).await;
    // Waiting for tool outputs.
    let t_waiting = new_thread(&store, &p).await;
    let waiting = store.create_run(&p, &t_waiting, due()).await.unwrap();
    let (waiting, waiting_step) =
        require_tool_outputs(&store, &p, &waiting.id, vec![call("f", "{}")]).await;
    let call_id = waiting
        .required_action
        .clone()
        .unwrap()
        .submit_tool_outputs
        .tool_calls[0]
        .id
        .clone();
    // Already completed.
    let t_done = new_thread(&store, &p).await;
    let done = store.create_run(&p, &t_done, due()).await.unwrap();
    let c_done = claim(&store, "worker-3", &done.id).await;
    let done = store
        .finish_run(&c_done.run, "worker-3", RunStatus::Completed, None, None)
        .await
        .unwrap()
        .expect("lease held");
    // Abandoned mid-turn: its worker's lease ran out.
    let t_abandoned = new_thread(&store, &p).await;
    let abandoned = store.create_run(&p, &t_abandoned, due()).await.unwrap();
    let c_ab = claim(&store, "worker-4", &abandoned.id).await;
    let (m_ab, s_ab) = store.begin_message(&c_ab.run, "worker-4").await.unwrap();
    store
        .renew_lease(&abandoned.id, "worker-4", Duration::from_millis(50))
        .await
        .unwrap();
    // Queued.
    let t_queued = new_thread(&store, &p).await;
    let queued = store.create_run(&p, &t_queued, due()).await.unwrap();
    // Queued, not due.
    let t_future = new_thread(&store, &p).await;
    let future = store
        .create_run(&p, &t_future, new_run(&asst))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    let t0 = unix_now();
    assert_eq!(store.expire_due_runs().await.unwrap(), 3);

    // Queued: expired, and no longer expiring.
    let q = store.get_run(&p, &t_queued, &queued.id).await.unwrap();
    assert_eq!(q.usage.unwrap_or_default(), Usage::default());
    let mut want = queued.clone();
    want.status = RunStatus::Expired;
    want.usage = q.usage;
    want.expires_at = None;
    assert_eq!(
        q, want,
        "a queued run only changes status (and expires no more)"
    );

    // Waiting for tool outputs: expired with its pending step; outputs are refused.
    let w = store.get_run(&p, &t_waiting, &waiting.id).await.unwrap();
    assert_eq!(w.status, RunStatus::Expired);
    assert_eq!(w.required_action, None);
    assert_eq!(w.expires_at, None);
    assert_eq!(w.started_at, waiting.started_at);
    assert_eq!(
        (w.cancelled_at, w.failed_at, w.completed_at),
        (None, None, None)
    );
    let ws = store
        .get_run_step(&p, &t_waiting, &waiting.id, &waiting_step.id)
        .await
        .unwrap();
    assert_eq!(ws.status, RunStepStatus::Expired);
    assert_recent(
        ws.expired_at.expect("step.expired_at"),
        t0,
        "step.expired_at",
    );
    assert_invalid(
        store
            .submit_tool_outputs(&p, &t_waiting, &waiting.id, vec![output(&call_id, "late")])
            .await,
    );

    // Abandoned: expired, its open turn ended; its former worker lost it.
    let ab = store
        .get_run(&p, &t_abandoned, &abandoned.id)
        .await
        .unwrap();
    assert_eq!(ab.status, RunStatus::Expired);
    assert_eq!(ab.expires_at, None);
    let m = store.get_message(&p, &t_abandoned, &m_ab.id).await.unwrap();
    assert_eq!(m.status, MessageStatus::Incomplete);
    assert_eq!(
        m.incomplete_details,
        Some(MessageIncompleteDetails {
            reason: "run_expired".to_owned(),
        })
    );
    assert!(m.incomplete_at.is_some());
    let s = store
        .get_run_step(&p, &t_abandoned, &abandoned.id, &s_ab.id)
        .await
        .unwrap();
    assert_eq!(s.status, RunStepStatus::Expired);
    assert!(s.expired_at.is_some());
    assert_eq!(
        store
            .renew_lease(&abandoned.id, "worker-4", LEASE)
            .await
            .unwrap(),
        Lease::Lost
    );

    // Left alone: the leased run (its worker expires it itself), the ended run, the run not due.
    assert_eq!(
        store.get_run(&p, &t_leased, &leased.id).await.unwrap(),
        c_leased.run
    );
    assert_eq!(
        store
            .renew_lease(&leased.id, "worker-1", LEASE)
            .await
            .unwrap(),
        Lease::Held(RunStatus::InProgress)
    );
    assert_eq!(store.get_run(&p, &t_done, &done.id).await.unwrap(), done);
    assert_eq!(
        store.get_run(&p, &t_future, &future.id).await.unwrap(),
        future
    );
    // Expired runs are not claimable: the next claim skips the older expired ones.
    claim(&store, "worker-5", &future.id).await;

    // The expired runs' threads are free again.
    for t in [&t_queued, &t_waiting, &t_abandoned] {
        store
            .create_message(&p, t, user_msg("after expiry"))
            .await
            .expect("a message once the run expired");
    }
    assert_eq!(
        store.expire_due_runs().await.unwrap(),
        0,
        "nothing more due"
    );
}

/// The thread's messages, oldest first, as the API lists them (these threads hold a few).
async fn thread_messages(
    store: &Arc<dyn Store>,
    project: &Project,
    thread: &ThreadId,
) -> Vec<Message> {
    store
        .list_messages(project, thread, &all_asc(), None)
        .await
        .unwrap()
        .data
}

fn search_call(id: &str, query: &str) -> StepToolCall {
    StepToolCall::FileSearch {
        id: id.to_owned(),
        file_search: FileSearchCall {
            query: Some(query.to_owned()),
            ranking_options: Some(FileSearchRankingUsed {
                ranker: FileSearchRanker::Auto,
                score_threshold: 0.25,
            }),
            results: Some(vec![FileSearchResult {
                file_id: "file-abc".to_owned(),
                file_name: "notes.md".to_owned(),
                score: 0.75,
                content: Some(vec![FileSearchResultContent {
                    type_: "text".to_owned(),
                    text: "The launch is on Tuesday.".to_owned(),
                }]),
            }]),
        },
    }
}

/// Calls the server executed (file searches) complete their step and leave the run running;
/// next to function calls they are kept in the step the run waits on; a message keeps its
/// citations.
pub async fn server_tool_calls_and_citations(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let mut nr = new_run(&asst);
    nr.tools = vec![function_tool("get_time")];
    let run = store.create_run(&p, &thread, nr).await.unwrap();
    let c = claim(&store, WORKER, &run.id).await;

    // Only searches: the step completes with them, the run stays in progress.
    let step = store
        .begin_tool_calls(&c.run, WORKER)
        .await
        .unwrap()
        .unwrap();
    let done = vec![search_call("call_s1", "launch date")];
    assert_eq!(
        store
            .complete_tool_calls(&c.run, "worker-2", &step.id, done.clone(), usage(5, 2))
            .await
            .unwrap(),
        None,
        "complete_tool_calls without the lease"
    );
    let t0 = unix_now();
    let completed = store
        .complete_tool_calls(&c.run, WORKER, &step.id, done.clone(), usage(5, 2))
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(completed.status, RunStepStatus::Completed);
    assert_recent(
        completed.completed_at.expect("completed_at"),
        t0,
        "step.completed_at",
    );
    assert_eq!(completed.usage, Some(usage(5, 2)));
    assert_eq!(
        completed.step_details,
        StepDetails::ToolCalls {
            tool_calls: done.clone()
        },
        "the stored call keeps its query and the results' text"
    );
    assert_eq!(
        store.get_run(&p, &thread, &run.id).await.unwrap().status,
        RunStatus::InProgress
    );

    // Searches next to a function call: both are in the step, only the function is required.
    let step2 = store
        .begin_tool_calls(&c.run, WORKER)
        .await
        .unwrap()
        .unwrap();
    let f = RunToolCallObject {
        id: "call_f1".to_owned(),
        type_: "function".to_owned(),
        function: call("get_time", "{}"),
    };
    let (ra, waiting) = store
        .require_action_for_step(
            &c.run,
            WORKER,
            &step2.id,
            vec![search_call("call_s2", "time zone")],
            vec![f.clone()],
            usage(3, 1),
        )
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(ra.status, RunStatus::RequiresAction);
    let required = ra.required_action.expect("required_action");
    assert_eq!(required.submit_tool_outputs.tool_calls, vec![f]);
    let StepDetails::ToolCalls { tool_calls } = &waiting.step_details else {
        panic!("not a tool_calls step: {waiting:?}");
    };
    assert_eq!(tool_calls.len(), 2);
    assert_eq!(tool_calls[0], search_call("call_s2", "time zone"));
    assert!(matches!(&tool_calls[1], StepToolCall::Function { id, .. } if id == "call_f1"));
}

/// A completed message keeps the citations its text carries.
pub async fn message_keeps_citations(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let run = store.create_run(&p, &thread, new_run(&asst)).await.unwrap();
    let c = claim(&store, WORKER, &run.id).await;
    let (msg, step) = store.begin_message(&c.run, WORKER).await.unwrap();
    let note = TextAnnotation::FileCitation {
        text: "【0:0†notes.md】".to_owned(),
        file_citation: FileCitation {
            file_id: "file-abc".to_owned(),
            quote: Some("The launch is on Tuesday.".to_owned()),
        },
        start_index: 8,
        end_index: 22,
    };
    let mut text = turn("Tuesday 【0:0†notes.md】.", usage(1, 1));
    text.annotations = vec![note.clone()];
    let (done, _) = store
        .complete_message(&c.run, WORKER, &msg.id, &step.id, &text)
        .await
        .unwrap();
    let stored = store.get_message(&p, &thread, &msg.id).await.unwrap();
    assert_eq!(stored, done);
    let [MessageContent::Text { text: t }] = stored.content.as_slice() else {
        panic!("one text part: {:?}", stored.content);
    };
    assert_eq!(t.value, "Tuesday 【0:0†notes.md】.");
    assert_eq!(t.annotations, vec![note]);
}
