// Sandbox configurations and their environment variables. Shared by both backends through
// `include!`. Variable values are secrets: nothing here logs a row.

use crate::schemas::sandbox::{SandboxConfig, SandboxEnvironmentVariable, SandboxType};

fn sandbox_config_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<SandboxConfig> {
    let kind: String = row.try_get("type")?;
    Ok(SandboxConfig {
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
        id: row.try_get("id")?,
        kind: SandboxType::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown sandbox type {kind:?}")))?,
        organization_id: Some(row.try_get("organization_id")?),
        config: json_col(row, "config")?,
    })
}

fn sandbox_env_var_from_row(
    row: &<Db as sqlx::Database>::Row,
) -> StoreResult<SandboxEnvironmentVariable> {
    Ok(SandboxEnvironmentVariable {
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        value: row.try_get("value")?,
        description: row.try_get("description")?,
        organization_id: Some(row.try_get("organization_id")?),
        sandbox_config_id: row.try_get("sandbox_config_id")?,
    })
}

/// The organization a new row belongs to; a row without one is a caller bug.
fn owner_org(org: Option<&str>) -> StoreResult<&str> {
    org.ok_or_else(|| StoreError::Rejected("organization_id is required".to_owned()))
}

impl SqlStore {
    /// Inserts a config row; on a (type, organization) clash runs `on_conflict` instead.
    async fn write_sandbox_config(
        &self,
        config: &SandboxConfig,
        on_conflict: &str,
    ) -> StoreResult<SandboxConfig> {
        let org = owner_org(config.organization_id.as_deref())?;
        let ts = config.created_at.unwrap_or_else(now);
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO sandbox_configs (id, organization_id, type, config, created_by_id, \
             last_updated_by_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (type, organization_id) {on_conflict}"
        ))
        .bind(&config.id)
        .bind(org)
        .bind(config.kind.as_str())
        .bind(to_json(&config.config))
        .bind(config.created_by_id.as_deref())
        .bind(config.last_updated_by_id.as_deref())
        .bind(ts)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT * FROM sandbox_configs WHERE organization_id = $1 AND type = $2")
            .bind(org)
            .bind(config.kind.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        sandbox_config_from_row(&row)
    }
}

#[async_trait::async_trait]
impl super::SandboxStore for SqlStore {
    async fn upsert_sandbox_config(&self, config: &SandboxConfig) -> StoreResult<SandboxConfig> {
        // The settings are JSON text written by one serializer, so equal settings are equal
        // text and an unchanged config keeps its `updated_at`.
        self.write_sandbox_config(
            config,
            "DO UPDATE SET config = excluded.config, \
             last_updated_by_id = excluded.last_updated_by_id, updated_at = excluded.updated_at \
             WHERE sandbox_configs.config <> excluded.config",
        )
        .await
    }

    async fn get_or_create_sandbox_config(
        &self,
        config: &SandboxConfig,
    ) -> StoreResult<SandboxConfig> {
        self.write_sandbox_config(config, "DO NOTHING").await
    }

    async fn get_sandbox_config(&self, org_id: &str, id: &str) -> StoreResult<Option<SandboxConfig>> {
        sqlx::query("SELECT * FROM sandbox_configs WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(sandbox_config_from_row)
            .transpose()
    }

    async fn get_sandbox_config_by_type(
        &self,
        org_id: &str,
        kind: SandboxType,
    ) -> StoreResult<Option<SandboxConfig>> {
        sqlx::query("SELECT * FROM sandbox_configs WHERE organization_id = $1 AND type = $2")
            .bind(org_id)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(sandbox_config_from_row)
            .transpose()
    }

    async fn list_sandbox_configs(
        &self,
        org_id: &str,
        kind: Option<SandboxType>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<SandboxConfig>> {
        let mut qb =
            QueryBuilder::<Db>::new("SELECT * FROM sandbox_configs WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        if let Some(kind) = kind {
            qb.push(" AND type = ");
            qb.push_bind(kind.as_str());
        }
        if let Some(after) = after {
            qb.push(
                " AND (created_at, id) > (SELECT created_at, id FROM sandbox_configs WHERE id = ",
            );
            qb.push_bind(after.to_owned());
            qb.push(" AND organization_id = ");
            qb.push_bind(org_id.to_owned());
            qb.push(")");
        }
        qb.push(" ORDER BY created_at, id");
        push_limit(&mut qb, limit);
        qb.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(sandbox_config_from_row)
            .collect()
    }

    async fn update_sandbox_config(
        &self,
        org_id: &str,
        id: &str,
        kind: SandboxType,
        config: &serde_json::Map<String, serde_json::Value>,
        updated_by: Option<&str>,
    ) -> StoreResult<Option<SandboxConfig>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE sandbox_configs SET config = $1, last_updated_by_id = $2, updated_at = $3 \
             WHERE id = $4 AND organization_id = $5 AND type = $6 AND config <> $1",
        )
        .bind(to_json(config))
        .bind(updated_by)
        .bind(now())
        .bind(id)
        .bind(org_id)
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT * FROM sandbox_configs WHERE id = $1 AND organization_id = $2 AND type = $3",
        )
        .bind(id)
        .bind(org_id)
        .bind(kind.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(sandbox_config_from_row).transpose()
    }

    async fn delete_sandbox_config(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        // The variables go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM sandbox_configs WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_sandbox_env_var(
        &self,
        var: &SandboxEnvironmentVariable,
    ) -> StoreResult<Option<SandboxEnvironmentVariable>> {
        let org = owner_org(var.organization_id.as_deref())?;
        let ts = var.created_at.unwrap_or_else(now);
        let mut tx = self.begin_write().await?;
        let owned: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM sandbox_configs WHERE id = $1 AND organization_id = $2{LOCK_FOR_UPDATE}"
        ))
        .bind(&var.sandbox_config_id)
        .bind(org)
        .fetch_optional(&mut *tx)
        .await?;
        if owned.is_none() {
            return Ok(None);
        }
        // The key is unique within a config and a config within an organization, so the row
        // a conflict updates is always this organization's.
        sqlx::query(
            "INSERT INTO sandbox_environment_variables (id, organization_id, sandbox_config_id, \
             key, value, description, created_by_id, last_updated_by_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (key, sandbox_config_id) DO UPDATE SET value = excluded.value, \
             description = COALESCE(excluded.description, sandbox_environment_variables.description), \
             last_updated_by_id = excluded.last_updated_by_id, updated_at = excluded.updated_at",
        )
        .bind(&var.id)
        .bind(org)
        .bind(&var.sandbox_config_id)
        .bind(&var.key)
        .bind(&var.value)
        .bind(var.description.as_deref())
        .bind(var.created_by_id.as_deref())
        .bind(var.last_updated_by_id.as_deref())
        .bind(ts)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT * FROM sandbox_environment_variables WHERE sandbox_config_id = $1 AND key = $2",
        )
        .bind(&var.sandbox_config_id)
        .bind(&var.key)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        sandbox_env_var_from_row(&row).map(Some)
    }

    async fn get_sandbox_env_var(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<SandboxEnvironmentVariable>> {
        sqlx::query("SELECT * FROM sandbox_environment_variables WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(sandbox_env_var_from_row)
            .transpose()
    }

    async fn list_sandbox_env_vars(
        &self,
        org_id: &str,
        sandbox_config_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<SandboxEnvironmentVariable>> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT * FROM sandbox_environment_variables WHERE organization_id = ",
        );
        qb.push_bind(org_id.to_owned());
        qb.push(" AND sandbox_config_id = ");
        qb.push_bind(sandbox_config_id.to_owned());
        if let Some(after) = after {
            qb.push(
                " AND (created_at, id) > (SELECT created_at, id FROM sandbox_environment_variables \
                 WHERE id = ",
            );
            qb.push_bind(after.to_owned());
            qb.push(" AND sandbox_config_id = ");
            qb.push_bind(sandbox_config_id.to_owned());
            qb.push(")");
        }
        qb.push(" ORDER BY created_at, id");
        push_limit(&mut qb, limit);
        qb.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(sandbox_env_var_from_row)
            .collect()
    }

    async fn update_sandbox_env_var(&self, var: &SandboxEnvironmentVariable) -> StoreResult<bool> {
        let org = owner_org(var.organization_id.as_deref())?;
        let done = sqlx::query(
            "UPDATE sandbox_environment_variables SET key = $1, value = $2, description = $3, \
             last_updated_by_id = $4, updated_at = $5 WHERE id = $6 AND organization_id = $7",
        )
        .bind(&var.key)
        .bind(&var.value)
        .bind(var.description.as_deref())
        .bind(var.last_updated_by_id.as_deref())
        .bind(now())
        .bind(&var.id)
        .bind(org)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_sandbox_env_var(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM sandbox_environment_variables WHERE id = $1 AND organization_id = $2",
        )
        .bind(id)
        .bind(org_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
