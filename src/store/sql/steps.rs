// Steps (one per model call). Shared by both backends through `include!`.

fn step_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<Step> {
    let feedback: Option<String> = row.try_get("feedback")?;
    let feedback = match feedback {
        None => None,
        Some(f) => Some(
            FeedbackType::parse(&f)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown step feedback {f:?}")))?,
        ),
    };
    Ok(Step {
        id: row.try_get("id")?,
        origin: row.try_get("origin")?,
        organization_id: Some(row.try_get("organization_id")?),
        provider_id: row.try_get("provider_id")?,
        job_id: row.try_get("job_id")?,
        agent_id: row.try_get("agent_id")?,
        provider_name: row.try_get("provider_name")?,
        provider_category: row.try_get("provider_category")?,
        model: row.try_get("model")?,
        model_endpoint: row.try_get("model_endpoint")?,
        context_window_limit: row.try_get("context_window_limit")?,
        completion_tokens: row.try_get("completion_tokens")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        total_tokens: row.try_get("total_tokens")?,
        completion_tokens_details: json_col_opt(row, "completion_tokens_details")?,
        tags: json_col(row, "tags")?,
        tid: row.try_get("tid")?,
        trace_id: row.try_get("trace_id")?,
        messages: Vec::new(),
        feedback,
        project_id: row.try_get("project_id")?,
        created_at: Some(row.try_get("created_at")?),
    })
}

async fn insert_step_row(conn: &mut Conn, step: &Step, org_id: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO steps (id, organization_id, origin, provider_id, job_id, agent_id, provider_name, \
         provider_category, model, model_endpoint, context_window_limit, completion_tokens, \
         prompt_tokens, total_tokens, completion_tokens_details, tags, tid, trace_id, feedback, \
         project_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21)",
    )
    .bind(&step.id)
    .bind(org_id)
    .bind(step.origin.as_deref())
    .bind(step.provider_id.as_deref())
    .bind(step.job_id.as_deref())
    .bind(step.agent_id.as_deref())
    .bind(step.provider_name.as_deref())
    .bind(step.provider_category.as_deref())
    .bind(step.model.as_deref())
    .bind(step.model_endpoint.as_deref())
    .bind(step.context_window_limit)
    .bind(step.completion_tokens)
    .bind(step.prompt_tokens)
    .bind(step.total_tokens)
    .bind(step.completion_tokens_details.as_ref().map(to_json))
    .bind(to_json(&step.tags))
    .bind(step.tid.as_deref())
    .bind(step.trace_id.as_deref())
    .bind(step.feedback.map(FeedbackType::as_str))
    .bind(step.project_id.as_deref())
    .bind(step.created_at.unwrap_or_else(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Links messages to a run (idempotent).
async fn link_run_messages(conn: &mut Conn, run_id: &str, messages: &[Message]) -> StoreResult<()> {
    for chunk in messages.chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO job_messages (job_id, message_id) ");
        qb.push_values(chunk, |mut b, m| {
            b.push_bind(run_id.to_owned()).push_bind(m.id.clone());
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl super::StepStore for SqlStore {
    async fn persist_step(
        &self,
        step: Option<&Step>,
        messages: &[Message],
        run_id: Option<&str>,
    ) -> StoreResult<()> {
        // A step without an organization belongs to its messages' organization.
        let step_org = match step {
            Some(step) => Some(
                step.organization_id
                    .clone()
                    .or_else(|| messages.first().map(|m| m.organization_id.clone()))
                    .ok_or_else(|| {
                        StoreError::Rejected(format!("step {} has no organization", step.id))
                    })?,
            ),
            None => None,
        };
        if step.is_none() && messages.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        if let (Some(step), Some(org_id)) = (step, step_org.as_deref()) {
            insert_step_row(&mut tx, step, org_id).await?;
        }
        insert_message_rows(&mut tx, messages).await?;
        if let Some(run_id) = run_id {
            link_run_messages(&mut tx, run_id, messages).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_step(&self, org_id: &str, step_id: &str) -> StoreResult<Option<Step>> {
        let row = sqlx::query("SELECT * FROM steps WHERE id = $1 AND organization_id = $2")
            .bind(step_id)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(step_from_row).transpose()
    }

    async fn list_steps(&self, org_id: &str, filter: &StepFilter) -> StoreResult<Vec<Step>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM steps WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        // Cursors are relative to the listing direction: `after` continues the listing,
        // `before` goes back. A cursor that is not a step of the organization filters nothing.
        for (cursor, forward) in [
            (&filter.after, filter.ascending),
            (&filter.before, !filter.ascending),
        ] {
            if let Some(cursor) = cursor
                && let Some(at) =
                    cursor_created_at(&self.pool, "steps", "organization_id", org_id, cursor)
                        .await?
            {
                push_position_filter(&mut qb, at, cursor, forward);
            }
        }
        if let Some(start) = filter.start_date {
            qb.push(" AND created_at > ");
            qb.push_bind(start);
        }
        if let Some(end) = filter.end_date {
            qb.push(" AND created_at < ");
            qb.push_bind(end);
        }
        for (col, value) in [
            ("model", &filter.model),
            ("agent_id", &filter.agent_id),
            ("project_id", &filter.project_id),
        ] {
            if let Some(value) = value {
                qb.push(format!(" AND {col} = "));
                qb.push_bind(value.clone());
            }
        }
        if !filter.trace_ids.is_empty() {
            qb.push(" AND ");
            push_in_list(&mut qb, "trace_id", &filter.trace_ids);
        }
        if let Some(feedback) = filter.feedback {
            qb.push(" AND feedback = ");
            qb.push_bind(feedback.as_str());
        }
        match filter.has_feedback {
            Some(true) => {
                qb.push(" AND feedback IS NOT NULL");
            }
            Some(false) => {
                qb.push(" AND feedback IS NULL");
            }
            None => {}
        }
        if !filter.tags.is_empty() {
            qb.push(" AND ");
            push_json_array_contains_all(&mut qb, "tags", &dedup_ordered(&filter.tags));
        }
        qb.push(if filter.ascending {
            " ORDER BY created_at ASC, id ASC"
        } else {
            " ORDER BY created_at DESC, id DESC"
        });
        push_limit(&mut qb, filter.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(step_from_row).collect()
    }

    async fn set_step_feedback(
        &self,
        org_id: &str,
        step_id: &str,
        feedback: Option<FeedbackType>,
    ) -> StoreResult<Option<Step>> {
        let row = sqlx::query(
            "UPDATE steps SET feedback = $3 WHERE id = $1 AND organization_id = $2 RETURNING *",
        )
        .bind(step_id)
        .bind(org_id)
        .bind(feedback.map(FeedbackType::as_str))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(step_from_row).transpose()
    }

    async fn steps_for_run(&self, run_id: &str) -> StoreResult<Vec<Step>> {
        let rows = sqlx::query("SELECT * FROM steps WHERE job_id = $1 ORDER BY created_at, id")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(step_from_row).collect()
    }

    async fn list_run_steps(
        &self,
        org_id: &str,
        run_id: &str,
        before: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
        ascending: bool,
    ) -> StoreResult<Vec<Step>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM steps WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND job_id = ");
        qb.push_bind(run_id.to_owned());
        // Absolute positions: `after` keeps newer steps, `before` older ones, whatever the
        // listing direction. A cursor that is not a step of the organization filters nothing.
        for (cursor, newer) in [(after, true), (before, false)] {
            if let Some(cursor) = cursor
                && let Some(at) =
                    cursor_created_at(&self.pool, "steps", "organization_id", org_id, cursor)
                        .await?
            {
                push_position_filter(&mut qb, at, cursor, newer);
            }
        }
        qb.push(if ascending {
            " ORDER BY created_at ASC, id ASC"
        } else {
            " ORDER BY created_at DESC, id DESC"
        });
        push_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(step_from_row).collect()
    }
}
