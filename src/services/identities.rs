//! Identities: the people and organizations agents and blocks belong to. One identity per
//! `(identifier_key, project_id)` in an organization; links to agents and blocks must name
//! existing rows of the same organization.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{ServiceError, ServiceResult};
use crate::schemas::identity::{
    Identity, IdentityCreate, IdentityProperty, IdentityUpdate, IdentityUpsert,
};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::store::DynStore;
use crate::store::{IdentityFilter, IdentityLinks, StoreError};

pub struct IdentityService<'a> {
    store: &'a DynStore,
}

impl<'a> IdentityService<'a> {
    pub fn new(store: &'a DynStore) -> Self {
        IdentityService { store }
    }

    pub async fn list(
        &self,
        actor: &Actor,
        filter: &IdentityFilter,
    ) -> ServiceResult<Vec<Identity>> {
        Ok(self
            .store
            .list_identities(&actor.organization_id, filter)
            .await?)
    }

    pub async fn count(&self, actor: &Actor) -> ServiceResult<i64> {
        Ok(self.store.count_identities(&actor.organization_id).await?)
    }

    /// The identity, or 404.
    pub async fn get(&self, actor: &Actor, id: &str) -> ServiceResult<Identity> {
        self.store
            .get_identity(&actor.organization_id, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Creates an identity linked to the given agents and blocks; 409 when its
    /// `(identifier_key, project_id)` is taken, 404 when a linked id is unknown.
    pub async fn create(&self, actor: &Actor, req: IdentityCreate) -> ServiceResult<Identity> {
        let org = &actor.organization_id;
        let properties = req.properties.unwrap_or_default();
        check_properties(&properties, &["body", "properties"])?;
        let agent_ids = self
            .existing_agents(org, req.agent_ids)
            .await?
            .unwrap_or_default();
        let block_ids = self
            .existing_blocks(org, req.block_ids)
            .await?
            .unwrap_or_default();
        let key_taken = self
            .store
            .find_identity_by_key(org, &req.identifier_key, req.project_id.as_deref())
            .await?
            .is_some();
        if key_taken {
            return Err(duplicate_key(
                &req.identifier_key,
                req.project_id.as_deref(),
            ));
        }
        let identity = Identity {
            id: new_id("identity"),
            identifier_key: req.identifier_key,
            name: req.name,
            identity_type: req.identity_type,
            project_id: req.project_id,
            agent_ids,
            block_ids,
            organization_id: Some(org.clone()),
            properties,
        };
        self.store
            .create_identity(&identity)
            .await
            .map_err(|err| match err {
                StoreError::Unique(_) => {
                    duplicate_key(&identity.identifier_key, identity.project_id.as_deref())
                }
                other => other.into(),
            })?;
        self.get(actor, &identity.id).await
    }

    /// Creates the identity, or when one with the same `(identifier_key, project_id)` exists,
    /// replaces its name, type and (when given) properties and agent links; its block links
    /// are kept.
    pub async fn upsert(&self, actor: &Actor, req: IdentityUpsert) -> ServiceResult<Identity> {
        let org = &actor.organization_id;
        let existing = self
            .store
            .find_identity_by_key(org, &req.identifier_key, req.project_id.as_deref())
            .await?;
        let Some(mut identity) = existing else {
            return self.create(actor, req.into()).await;
        };
        if let Some(properties) = &req.properties {
            check_properties(properties, &["body", "properties"])?;
        }
        let agent_ids = self.existing_agents(org, req.agent_ids).await?;
        identity.name = req.name;
        identity.identity_type = req.identity_type;
        if let Some(properties) = req.properties {
            identity.properties = properties;
        }
        let links = IdentityLinks {
            agent_ids,
            block_ids: None,
            replace: true,
        };
        self.write(actor, &identity, &links).await
    }

    /// Applies the present fields; given agent and block ids are added to the links, and
    /// given properties are merged into the existing ones by key.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        req: IdentityUpdate,
    ) -> ServiceResult<Identity> {
        let org = &actor.organization_id;
        let mut identity = self.get(actor, id).await?;
        if let Some(properties) = &req.properties {
            check_properties(properties, &["body", "properties"])?;
        }
        let agent_ids = self.existing_agents(org, req.agent_ids).await?;
        let block_ids = self.existing_blocks(org, req.block_ids).await?;
        if let Some(key) = req.identifier_key.filter(|k| *k != identity.identifier_key) {
            let project = identity.project_id.as_deref();
            if self
                .store
                .find_identity_by_key(org, &key, project)
                .await?
                .is_some()
            {
                return Err(duplicate_key(&key, project));
            }
            identity.identifier_key = key;
        }
        if let Some(name) = req.name {
            identity.name = name;
        }
        if let Some(kind) = req.identity_type {
            identity.identity_type = kind;
        }
        if let Some(properties) = req.properties {
            identity.properties = merge_properties(identity.properties, properties);
        }
        let links = IdentityLinks {
            agent_ids,
            block_ids,
            replace: false,
        };
        self.write(actor, &identity, &links).await
    }

    /// Replaces all properties of the identity.
    pub async fn set_properties(
        &self,
        actor: &Actor,
        id: &str,
        properties: Vec<IdentityProperty>,
    ) -> ServiceResult<Identity> {
        check_properties(&properties, &["body"])?;
        if !self
            .store
            .set_identity_properties(&actor.organization_id, id, &properties)
            .await?
        {
            return Err(not_found(id));
        }
        self.get(actor, id).await
    }

    /// Deletes the identity and its links (the agents and blocks stay).
    pub async fn delete(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        if !self
            .store
            .delete_identity(&actor.organization_id, id)
            .await?
        {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Writes an existing identity and returns it as stored.
    async fn write(
        &self,
        actor: &Actor,
        identity: &Identity,
        links: &IdentityLinks,
    ) -> ServiceResult<Identity> {
        let written = self
            .store
            .update_identity(&actor.organization_id, identity, links)
            .await
            .map_err(|err| match err {
                StoreError::Unique(_) => {
                    duplicate_key(&identity.identifier_key, identity.project_id.as_deref())
                }
                other => other.into(),
            })?;
        if !written {
            return Err(not_found(&identity.id));
        }
        self.get(actor, &identity.id).await
    }

    /// The given agent ids without duplicates, or 404 naming those not in the organization.
    async fn existing_agents(
        &self,
        org: &str,
        ids: Option<Vec<String>>,
    ) -> ServiceResult<Option<Vec<String>>> {
        let Some(ids) = ids.map(dedup) else {
            return Ok(None);
        };
        let found = if ids.is_empty() {
            Vec::new()
        } else {
            self.store.existing_agent_ids(org, &ids).await?
        };
        require_all(&ids, &found)?;
        Ok(Some(ids))
    }

    /// The given block ids without duplicates, or 404 naming those not in the organization.
    async fn existing_blocks(
        &self,
        org: &str,
        ids: Option<Vec<String>>,
    ) -> ServiceResult<Option<Vec<String>>> {
        let Some(ids) = ids.map(dedup) else {
            return Ok(None);
        };
        let found = if ids.is_empty() {
            Vec::new()
        } else {
            self.store.existing_block_ids(org, &ids).await?
        };
        require_all(&ids, &found)?;
        Ok(Some(ids))
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Identity not found with id='{id}'"))
}

fn duplicate_key(key: &str, project_id: Option<&str>) -> ServiceError {
    ServiceError::Conflict(match project_id {
        Some(project) => {
            format!("An identity with identifier key {key} already exists for project {project}")
        }
        None => format!("An identity with identifier key {key} already exists"),
    })
}

/// Keeps the first occurrence of each id, in order.
fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// 404 listing the ids that were not found, in the original's wording (which says "agents"
/// for blocks too).
fn require_all(wanted: &[String], found: &[String]) -> ServiceResult<()> {
    let found: BTreeSet<&str> = found.iter().map(String::as_str).collect();
    let missing: BTreeSet<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|id| !found.contains(id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let items: Vec<String> = missing.iter().map(|id| format!("'{id}'")).collect();
    Err(ServiceError::NotFound(format!(
        "Items not found in agents: {{{}}}",
        items.join(", ")
    )))
}

/// Property values are strings, numbers, booleans or objects; anything else is a 422 at
/// `<loc>/<index>/value`.
fn check_properties(properties: &[IdentityProperty], loc: &[&str]) -> ServiceResult<()> {
    for (i, property) in properties.iter().enumerate() {
        if matches!(property.value, Value::Null | Value::Array(_)) {
            let mut at: Vec<Value> = loc.iter().map(|s| json!(s)).collect();
            at.extend([json!(i), json!("value")]);
            return Err(ServiceError::Validation {
                loc: at,
                msg: "Value error, a property value must be a string, number, boolean or object"
                    .to_owned(),
                input: property.value.clone(),
            });
        }
    }
    Ok(())
}

/// `existing` with each of `new` replacing the property of the same key in place, or
/// appended when the key is new.
fn merge_properties(
    mut existing: Vec<IdentityProperty>,
    new: Vec<IdentityProperty>,
) -> Vec<IdentityProperty> {
    for property in new {
        match existing.iter_mut().find(|p| p.key == property.key) {
            Some(slot) => *slot = property,
            None => existing.push(property),
        }
    }
    existing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::identity::IdentityPropertyType;

    fn prop(key: &str, value: Value) -> IdentityProperty {
        IdentityProperty {
            key: key.to_owned(),
            value,
            kind: IdentityPropertyType::Json,
        }
    }

    #[test]
    fn merge_replaces_by_key_in_place_and_appends_new_keys() {
        let merged = merge_properties(
            vec![prop("a", json!(1)), prop("b", json!(2))],
            vec![prop("c", json!(3)), prop("a", json!("x"))],
        );
        assert_eq!(
            merged,
            vec![
                prop("a", json!("x")),
                prop("b", json!(2)),
                prop("c", json!(3))
            ]
        );
    }

    #[test]
    fn missing_ids_are_listed_sorted() {
        let wanted = vec!["b".to_owned(), "a".to_owned(), "c".to_owned()];
        let err = require_all(&wanted, &["c".to_owned()]).unwrap_err();
        assert_eq!(err.to_string(), "Items not found in agents: {'a', 'b'}");
    }
}
