// Providers brought by organizations (BYOK). Shared by both backends through `include!`.
// Rows hold API keys: nothing here logs a row.

use crate::schemas::provider::ProviderRow;

/// How many agent ids an in-use refusal names.
const PROVIDER_IN_USE_SAMPLE: usize = 5;

fn provider_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<ProviderRow> {
    Ok(ProviderRow {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        name: row.try_get("name")?,
        provider_type: row.try_get("provider_type")?,
        api_key: row.try_get("api_key")?,
        base_url: row.try_get("base_url")?,
        access_key: row.try_get("access_key")?,
        region: row.try_get("region")?,
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait::async_trait]
impl super::ProviderStore for SqlStore {
    async fn insert_provider(&self, row: &ProviderRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO providers (id, organization_id, name, provider_type, api_key, base_url, \
             access_key, region, created_by_id, last_updated_by_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.name)
        .bind(&row.provider_type)
        .bind(row.api_key.as_deref())
        .bind(row.base_url.as_deref())
        .bind(row.access_key.as_deref())
        .bind(row.region.as_deref())
        .bind(row.created_by_id.as_deref())
        .bind(row.last_updated_by_id.as_deref())
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_provider(&self, org_id: &str, id: &str) -> StoreResult<Option<ProviderRow>> {
        sqlx::query("SELECT * FROM providers WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(provider_from_row)
            .transpose()
    }

    async fn get_provider_by_name(
        &self,
        org_id: &str,
        name: &str,
    ) -> StoreResult<Option<ProviderRow>> {
        sqlx::query("SELECT * FROM providers WHERE name = $1 AND organization_id = $2")
            .bind(name)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(provider_from_row)
            .transpose()
    }

    async fn list_providers(
        &self,
        org_id: &str,
        name: Option<&str>,
        provider_type: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<ProviderRow>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM providers WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        if let Some(name) = name {
            qb.push(" AND name = ");
            qb.push_bind(name.to_owned());
        }
        if let Some(kind) = provider_type {
            qb.push(" AND provider_type = ");
            qb.push_bind(kind.to_owned());
        }
        if let Some(after) = after {
            qb.push(" AND (created_at, id) > (SELECT created_at, id FROM providers WHERE id = ");
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
            .map(provider_from_row)
            .collect()
    }

    async fn update_provider(
        &self,
        org_id: &str,
        id: &str,
        patch: &super::ProviderPatch,
    ) -> StoreResult<Option<ProviderRow>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE providers SET api_key = COALESCE($1, api_key), \
             access_key = COALESCE($2, access_key), region = COALESCE($3, region), \
             base_url = COALESCE($4, base_url), last_updated_by_id = $5, updated_at = $6 \
             WHERE id = $7 AND organization_id = $8",
        )
        .bind(patch.api_key.as_deref())
        .bind(patch.access_key.as_deref())
        .bind(patch.region.as_deref())
        .bind(patch.base_url.as_deref())
        .bind(patch.updated_by.as_deref())
        .bind(now())
        .bind(id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT * FROM providers WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.as_ref().map(provider_from_row).transpose()
    }

    async fn delete_provider(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<super::ProviderDeletion> {
        let mut tx = self.begin_write().await?;
        let name: Option<String> = sqlx::query_scalar(&format!(
            "SELECT name FROM providers WHERE id = $1 AND organization_id = $2{LOCK_FOR_UPDATE}"
        ))
        .bind(id)
        .bind(org_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(name) = name else {
            return Ok(super::ProviderDeletion::NotFound);
        };
        // The configs are JSON text written by one serializer: a LIKE narrows the agents
        // down, the parsed config decides.
        let candidates: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, llm_config FROM agents WHERE organization_id = $1 AND llm_config LIKE $2",
        )
        .bind(org_id)
        .bind(contains_pattern(&name))
        .fetch_all(&mut *tx)
        .await?;
        let users: Vec<String> = candidates
            .into_iter()
            .filter(|(_, config)| {
                serde_json::from_str::<serde_json::Value>(config).is_ok_and(|c| {
                    c["provider_name"] == name.as_str() && c["provider_category"] == "byok"
                })
            })
            .map(|(agent_id, _)| agent_id)
            .take(PROVIDER_IN_USE_SAMPLE)
            .collect();
        if !users.is_empty() {
            return Ok(super::ProviderDeletion::InUse(users));
        }
        sqlx::query("DELETE FROM providers WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(super::ProviderDeletion::Deleted)
    }
}
