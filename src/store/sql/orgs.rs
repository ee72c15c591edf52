// Organizations and users. Shared by both backends through `include!`.

fn org_from_row(row: &<Db as sqlx::Database>::Row) -> super::StoreResult<crate::schemas::org::Organization> {
    Ok(crate::schemas::org::Organization {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: Some(row.try_get("created_at")?),
        privileged_tools: row.try_get("privileged_tools")?,
    })
}

fn user_from_row(row: &<Db as sqlx::Database>::Row) -> super::StoreResult<crate::schemas::org::User> {
    Ok(crate::schemas::org::User {
        id: row.try_get("id")?,
        organization_id: Some(row.try_get("organization_id")?),
        name: row.try_get("name")?,
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
        is_deleted: false,
    })
}

#[async_trait::async_trait]
impl super::OrgStore for SqlStore {
    async fn ensure_defaults(&self) -> super::StoreResult<()> {
        use crate::schemas::org::*;
        let now = crate::schemas::common::now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO organizations (id, name, privileged_tools, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(DEFAULT_ORG_ID)
        .bind(DEFAULT_ORG_NAME)
        .bind(false)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO users (id, organization_id, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(DEFAULT_USER_ID)
        .bind(DEFAULT_ORG_ID)
        .bind(DEFAULT_USER_NAME)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_org(&self, org: &crate::schemas::org::Organization) -> super::StoreResult<()> {
        let now = org.created_at.unwrap_or_else(crate::schemas::common::now);
        sqlx::query(
            "INSERT INTO organizations (id, name, privileged_tools, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&org.id)
        .bind(&org.name)
        .bind(org.privileged_tools)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_org(&self, id: &str) -> super::StoreResult<Option<crate::schemas::org::Organization>> {
        let row = sqlx::query("SELECT * FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn list_orgs(
        &self,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> super::StoreResult<Vec<crate::schemas::org::Organization>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM organizations");
        if let Some(after) = after {
            qb.push(" WHERE (created_at, id) > (SELECT created_at, id FROM organizations WHERE id = ");
            qb.push_bind(after.to_owned());
            qb.push(")");
        }
        qb.push(" ORDER BY created_at, id");
        push_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(org_from_row).collect()
    }

    async fn update_org(&self, org: &crate::schemas::org::Organization) -> super::StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE organizations SET name = $2, privileged_tools = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(&org.id)
        .bind(&org.name)
        .bind(org.privileged_tools)
        .bind(crate::schemas::common::now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_org(&self, id: &str) -> super::StoreResult<bool> {
        let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_user(&self, user: &crate::schemas::org::User) -> super::StoreResult<()> {
        let now = user.created_at.unwrap_or_else(crate::schemas::common::now);
        sqlx::query(
            "INSERT INTO users (id, organization_id, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&user.id)
        .bind(user.organization_id.as_deref())
        .bind(&user.name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_user(&self, id: &str) -> super::StoreResult<Option<crate::schemas::org::User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(
        &self,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> super::StoreResult<Vec<crate::schemas::org::User>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM users");
        if let Some(after) = after {
            qb.push(" WHERE (created_at, id) > (SELECT created_at, id FROM users WHERE id = ");
            qb.push_bind(after.to_owned());
            qb.push(")");
        }
        qb.push(" ORDER BY created_at, id");
        push_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn update_user(&self, user: &crate::schemas::org::User) -> super::StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET name = $2, organization_id = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(user.organization_id.as_deref())
        .bind(crate::schemas::common::now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user(&self, id: &str) -> super::StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
