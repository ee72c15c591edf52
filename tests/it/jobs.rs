//! `/v1/jobs`: the caller's jobs written through the store — listing (plain jobs only) with
//! its filters and absolute cursors, retrieving any job (runs too) in the Job shape,
//! cancelling with the terminal-status guard, deleting; each user sees only their own.

use letta_rs::schemas::common::now;
use letta_rs::schemas::new_id;
use letta_rs::schemas::org::User;
use letta_rs::schemas::run::{JobStatus, JobType, Run};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_422};
use crate::store_fixtures::ts;

fn job_row(
    app: &TestApp,
    user_id: &str,
    job_type: JobType,
    status: JobStatus,
    secs: i64,
    metadata: Option<Value>,
) -> Run {
    let prefix = if job_type == JobType::Run {
        "run"
    } else {
        "job"
    };
    Run {
        created_by_id: Some(user_id.to_owned()),
        last_updated_by_id: Some(user_id.to_owned()),
        created_at: Some(ts(secs)),
        // Unfinished rows look alive, or a server's stale-run sweep would fail them.
        updated_at: Some(if status.is_terminal() {
            ts(secs)
        } else {
            now()
        }),
        status,
        completed_at: status.is_terminal().then(|| ts(secs + 1)),
        metadata: metadata.map(|m| m.as_object().cloned().unwrap_or_default()),
        job_type,
        callback_url: None,
        callback_sent_at: None,
        callback_status_code: None,
        callback_error: None,
        id: new_id(prefix),
        user_id: Some(user_id.to_owned()),
        request_config: None,
        agent_id: None,
        organization_id: app.org_id.clone(),
    }
}

async fn insert(app: &TestApp, job: Run) -> Run {
    app.store.create_run(&job).await.unwrap();
    job
}

async fn colleague(app: &TestApp) -> String {
    let user = User {
        id: new_id("user"),
        organization_id: Some(app.org_id.clone()),
        name: "colleague".to_owned(),
        created_at: None,
        updated_at: None,
        is_deleted: false,
    };
    app.store.create_user(&user).await.unwrap();
    user.id
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn list(app: &TestApp, query: &str) -> Vec<String> {
    ids(&get_ok(app, &format!("/v1/jobs/{query}")).await)
}

/// Five jobs ten seconds apart (oldest first), a run in between and another user's job.
async fn history(app: &TestApp) -> (Vec<Run>, Run, String) {
    let spec = [
        (JobStatus::Created, Some(json!({"source_id": "source-1"}))),
        (JobStatus::Running, Some(json!({"source_id": "source-2"}))),
        (JobStatus::Completed, Some(json!({"source_id": "source-1"}))),
        (JobStatus::Failed, None),
        (JobStatus::Created, Some(json!({"source_id": "source-1"}))),
    ];
    let mut jobs = Vec::new();
    for (n, (status, metadata)) in spec.into_iter().enumerate() {
        let row = job_row(
            app,
            &app.user_id,
            JobType::Job,
            status,
            n as i64 * 10,
            metadata,
        );
        jobs.push(insert(app, row).await);
    }
    let run = job_row(
        app,
        &app.user_id,
        JobType::Run,
        JobStatus::Running,
        15,
        Some(json!({"agent_id": "agent-x", "source_id": "source-1"})),
    );
    let run = insert(app, run).await;
    let other = colleague(app).await;
    let theirs = job_row(
        app,
        &other,
        JobType::Job,
        JobStatus::Created,
        25,
        Some(json!({"source_id": "source-1"})),
    );
    insert(app, theirs).await;
    (jobs, run, other)
}

both_backends!(list_jobs_filters_and_pages, |app: TestApp| async move {
    let (jobs, _run, other) = history(&app).await;
    let all: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    let pick = |idx: &[usize]| idx.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();

    // Plain jobs only, oldest first, in the Job shape.
    let listed = get_ok(&app, "/v1/jobs/").await;
    assert_eq!(ids(&listed), all);
    for job in listed.as_array().unwrap() {
        let keys: Vec<&String> = job.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "created_by_id",
                "last_updated_by_id",
                "created_at",
                "updated_at",
                "status",
                "completed_at",
                "metadata",
                "job_type",
                "callback_url",
                "callback_sent_at",
                "callback_status_code",
                "callback_error",
                "id",
                "user_id"
            ]
        );
        assert_eq!(job["job_type"], "job");
        assert_eq!(job["user_id"], app.user_id.as_str());
    }
    assert_eq!(listed[0]["created_at"], "2025-01-01T00:00:00");
    assert_eq!(listed[0]["metadata"], json!({"source_id": "source-1"}));
    assert_eq!(listed[2]["completed_at"], "2025-01-01T00:00:21");
    assert_eq!(ids(&get_ok(&app, "/v1/jobs").await), all);

    assert_eq!(list(&app, "?ascending=false").await, pick(&[4, 3, 2, 1, 0]));
    assert_eq!(list(&app, "?limit=2").await, pick(&[0, 1]));
    assert_eq!(list(&app, "?limit=2&ascending=false").await, pick(&[4, 3]));
    assert_eq!(list(&app, "?limit=0").await, all);

    // Cursors: `after` is newer, `before` older, whatever the direction.
    assert_eq!(
        list(&app, &format!("?after={}", all[1])).await,
        pick(&[2, 3, 4])
    );
    assert_eq!(
        list(&app, &format!("?after={}&ascending=false", all[1])).await,
        pick(&[4, 3, 2])
    );
    assert_eq!(
        list(&app, &format!("?before={}", all[3])).await,
        pick(&[0, 1, 2])
    );
    assert_eq!(
        list(&app, &format!("?before={}&ascending=false&limit=2", all[3])).await,
        pick(&[2, 1])
    );
    assert_eq!(
        list(&app, &format!("?after={}&before={}", all[0], all[4])).await,
        pick(&[1, 2, 3])
    );

    // Source filter; the active list.
    assert_eq!(list(&app, "?source_id=source-1").await, pick(&[0, 2, 4]));
    assert!(list(&app, "?source_id=source-9").await.is_empty());
    assert_eq!(
        ids(&get_ok(&app, "/v1/jobs/active").await),
        pick(&[0, 1, 4])
    );
    assert_eq!(
        ids(&get_ok(&app, "/v1/jobs/active?source_id=source-1&ascending=false").await),
        pick(&[4, 0])
    );
    assert_eq!(
        ids(&get_ok(&app, &format!("/v1/jobs/active?after={}", all[0])).await),
        pick(&[1, 4])
    );

    // The other user sees only theirs.
    let (_, theirs) = app.request_as(&other, Method::GET, "/v1/jobs/", None).await;
    assert_eq!(theirs.as_array().unwrap().len(), 1);
    assert_eq!(theirs[0]["user_id"], other.as_str());
});

both_backends!(list_jobs_rejects_bad_input, |app: TestApp| async move {
    let (jobs, _run, other) = history(&app).await;
    let (status, body) = app.get("/v1/jobs/?after=job-missing").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"detail": "Job with id job-missing not found"}));
    let (_, theirs) = app.request_as(&other, Method::GET, "/v1/jobs/", None).await;
    let their_id = theirs[0]["id"].as_str().unwrap();
    let (status, body) = app.get(&format!("/v1/jobs/?before={their_id}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .get(&format!(
            "/v1/jobs/?after={}&before={}",
            jobs[3].id, jobs[1].id
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"detail": "'before' reference must be later than 'after' reference"})
    );
    for path in ["/v1/jobs/", "/v1/jobs/active"] {
        let (status, body) = app.get(&format!("{path}?limit=-1")).await;
        assert_422(status, &body, &[json!("query"), json!("limit")]);
        let (status, body) = app.get(&format!("{path}?limit=lots")).await;
        assert_422(status, &body, &[json!("query"), json!("limit")]);
        let (status, body) = app.get(&format!("{path}?ascending=maybe")).await;
        assert_422(status, &body, &[json!("query"), json!("ascending")]);
    }
    // Nothing changed.
    for job in &jobs {
        assert_eq!(
            app.store
                .get_run(&app.user_id, &job.id)
                .await
                .unwrap()
                .as_ref(),
            Some(job)
        );
    }
});

both_backends!(retrieve_jobs_and_runs, |app: TestApp| async move {
    let (jobs, run, other) = history(&app).await;
    let job = get_ok(&app, &format!("/v1/jobs/{}", jobs[3].id)).await;
    assert_eq!(
        job,
        json!({
            "created_by_id": app.user_id,
            "last_updated_by_id": app.user_id,
            "created_at": "2025-01-01T00:00:30",
            "updated_at": "2025-01-01T00:00:30",
            "status": "failed",
            "completed_at": "2025-01-01T00:00:31",
            "metadata": null,
            "job_type": "job",
            "callback_url": null,
            "callback_sent_at": null,
            "callback_status_code": null,
            "callback_error": null,
            "id": jobs[3].id,
            "user_id": app.user_id,
        })
    );
    // A run is a job too, shown without its request config.
    let as_job = get_ok(&app, &format!("/v1/jobs/{}", run.id)).await;
    assert_eq!(as_job["job_type"], "run");
    assert_eq!(as_job["status"], "running");
    assert!(as_job.get("request_config").is_none(), "{as_job}");

    let (status, body) = app.get("/v1/jobs/job-missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Job not found"}));
    let (status, _) = app
        .request_as(
            &other,
            Method::GET,
            &format!("/v1/jobs/{}", jobs[0].id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both_backends!(cancel_is_guarded, |app: TestApp| async move {
    let (jobs, run, other) = history(&app).await;
    let cancel = |id: String| {
        let app = &app;
        async move {
            app.request(Method::PATCH, &format!("/v1/jobs/{id}/cancel"), None)
                .await
        }
    };

    // An unfinished job becomes cancelled, with its completion time.
    let (status, cancelled) = cancel(jobs[0].id.clone()).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["completed_at"].is_string(), "{cancelled}");
    let stored = get_ok(&app, &format!("/v1/jobs/{}", jobs[0].id)).await;
    assert_eq!(stored, cancelled);

    // Runs are cancelled the same way.
    let (status, body) = cancel(run.id.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    let as_run = get_ok(&app, &format!("/v1/runs/{}", run.id)).await;
    assert_eq!(as_run["status"], "cancelled");
    assert_eq!(as_run["completed_at"], body["completed_at"]);
    assert_eq!(get_ok(&app, "/v1/runs/active").await, json!([]));

    // A finished job is left alone: a conflict, nothing written.
    let (status, body) = cancel(jobs[0].id.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        get_ok(&app, &format!("/v1/jobs/{}", jobs[0].id)).await,
        stored
    );
    for finished in [&jobs[2], &jobs[3]] {
        let (status, body) = cancel(finished.id.clone()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(
            app.store
                .get_run(&app.user_id, &finished.id)
                .await
                .unwrap()
                .as_ref(),
            Some(finished)
        );
    }

    // Unknown, or another user's.
    let (status, body) = cancel("job-missing".to_owned()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Job not found"}));
    let (status, _) = app
        .request_as(
            &other,
            Method::PATCH,
            &format!("/v1/jobs/{}/cancel", jobs[1].id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.store
            .get_run(&app.user_id, &jobs[1].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&jobs[1])
    );
});

both_backends!(delete_jobs, |app: TestApp| async move {
    let (jobs, run, other) = history(&app).await;
    let before = get_ok(&app, &format!("/v1/jobs/{}", jobs[1].id)).await;

    let (status, _) = app
        .request_as(
            &other,
            Method::DELETE,
            &format!("/v1/jobs/{}", jobs[1].id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        get_ok(&app, &format!("/v1/jobs/{}", jobs[1].id)).await,
        before
    );

    let (status, deleted) = app.delete(&format!("/v1/jobs/{}", jobs[1].id)).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, before);
    let (status, body) = app.get(&format!("/v1/jobs/{}", jobs[1].id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Job not found"}));
    let (status, _) = app.delete(&format!("/v1/jobs/{}", jobs[1].id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        list(&app, "").await,
        [&jobs[0], &jobs[2], &jobs[3], &jobs[4]]
            .iter()
            .map(|j| j.id.clone())
            .collect::<Vec<_>>()
    );

    // A run can be deleted through /v1/jobs as well.
    let (status, deleted) = app.delete(&format!("/v1/jobs/{}", run.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["job_type"], "run");
    let (status, _) = app.get(&format!("/v1/runs/{}", run.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});
