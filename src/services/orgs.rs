//! Organizations and users, as the admin routes manage them. The default organization and
//! user the server falls back to cannot be deleted.

use rand::seq::SliceRandom;

use super::{ServiceError, ServiceResult};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::org::{
    DEFAULT_ORG_ID, DEFAULT_USER_ID, Organization, OrganizationCreate, OrganizationUpdate, User,
    UserCreate, UserUpdate,
};
use crate::store::DynStore;

pub struct OrgService<'a> {
    store: &'a DynStore,
}

impl<'a> OrgService<'a> {
    pub fn new(store: &'a DynStore) -> Self {
        OrgService { store }
    }

    /// The user named by a `user_id` header, or the default user when there is none. A
    /// header naming no known user is a 404.
    pub async fn resolve_actor(&self, user_id: Option<&str>) -> ServiceResult<Actor> {
        let Some(user_id) = user_id.filter(|id| !id.is_empty()) else {
            return Ok(Actor::default_user());
        };
        if user_id == DEFAULT_USER_ID {
            return Ok(Actor::default_user());
        }
        Ok(match self.store.get_user(user_id).await? {
            Some(user) => Actor {
                user_id: user.id,
                organization_id: user
                    .organization_id
                    .unwrap_or_else(|| DEFAULT_ORG_ID.to_owned()),
            },
            // The original falls back to the default user here, so a typo (or a guess)
            // silently acts on someone else's data: refuse instead.
            None => {
                return Err(ServiceError::NotFound(format!(
                    "User not found: the user_id header names no user ({user_id})"
                )));
            }
        })
    }

    /// Organizations oldest first, strictly after the `after` id when given.
    pub async fn list_orgs(
        &self,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> ServiceResult<Vec<Organization>> {
        Ok(self.store.list_orgs(after, limit).await?)
    }

    /// A new organization; without a name it gets a generated two-word one.
    pub async fn create_org(&self, req: OrganizationCreate) -> ServiceResult<Organization> {
        let org = Organization {
            id: new_id("org"),
            name: req.name.unwrap_or_else(random_name),
            created_at: None,
            privileged_tools: req.privileged_tools.unwrap_or(false),
        };
        self.store.create_org(&org).await?;
        self.get_org(&org.id).await
    }

    /// The organization, or 404.
    pub async fn get_org(&self, org_id: &str) -> ServiceResult<Organization> {
        self.store
            .get_org(org_id)
            .await?
            .ok_or_else(|| org_not_found(org_id))
    }

    /// Writes the present fields of `req`.
    pub async fn update_org(
        &self,
        org_id: &str,
        req: OrganizationUpdate,
    ) -> ServiceResult<Organization> {
        let mut org = self.get_org(org_id).await?;
        if let Some(name) = req.name {
            org.name = name;
        }
        if let Some(privileged) = req.privileged_tools {
            org.privileged_tools = privileged;
        }
        if !self.store.update_org(&org).await? {
            return Err(org_not_found(org_id));
        }
        Ok(org)
    }

    /// Deletes the organization with everything it owns; returns it as it was.
    pub async fn delete_org(&self, org_id: &str) -> ServiceResult<Organization> {
        if org_id == DEFAULT_ORG_ID {
            return Err(ServiceError::BadRequest(
                "The default organization cannot be deleted".to_owned(),
            ));
        }
        let org = self.get_org(org_id).await?;
        if !self.store.delete_org(org_id).await? {
            return Err(org_not_found(org_id));
        }
        Ok(org)
    }

    /// Users oldest first, strictly after the `after` id when given.
    pub async fn list_users(
        &self,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> ServiceResult<Vec<User>> {
        Ok(self.store.list_users(after, limit).await?)
    }

    /// A new user of an existing organization (404 otherwise).
    pub async fn create_user(&self, req: UserCreate) -> ServiceResult<User> {
        self.get_org(&req.organization_id).await?;
        let user = User {
            id: new_id("user"),
            organization_id: Some(req.organization_id),
            name: req.name,
            created_at: None,
            updated_at: None,
            is_deleted: false,
        };
        self.store.create_user(&user).await?;
        self.get_user(&user.id).await
    }

    /// The user, or 404.
    pub async fn get_user(&self, user_id: &str) -> ServiceResult<User> {
        self.store
            .get_user(user_id)
            .await?
            .ok_or_else(|| user_not_found(user_id))
    }

    /// Renames the user and/or moves it to another existing organization.
    pub async fn update_user(&self, req: UserUpdate) -> ServiceResult<User> {
        let mut user = self.get_user(&req.id).await?;
        if let Some(org_id) = req.organization_id {
            self.get_org(&org_id).await?;
            user.organization_id = Some(org_id);
        }
        if let Some(name) = req.name {
            user.name = name;
        }
        if !self.store.update_user(&user).await? {
            return Err(user_not_found(&user.id));
        }
        self.get_user(&user.id).await
    }

    /// Deletes the user; returns it as it was.
    pub async fn delete_user(&self, user_id: &str) -> ServiceResult<User> {
        if user_id == DEFAULT_USER_ID {
            return Err(ServiceError::BadRequest(
                "The default user cannot be deleted".to_owned(),
            ));
        }
        let user = self.get_user(user_id).await?;
        if !self.store.delete_user(user_id).await? {
            return Err(user_not_found(user_id));
        }
        Ok(user)
    }
}

fn org_not_found(org_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Organization with id {org_id} does not exist"))
}

fn user_not_found(user_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("User with id {user_id} does not exist"))
}

/// A readable name such as `QuietHarbor`.
fn random_name() -> String {
    const FIRST: &[&str] = &[
        "Amber", "Brisk", "Calm", "Daring", "Eager", "Fuzzy", "Gentle", "Hidden", "Jolly", "Keen",
        "Lively", "Mellow", "Nimble", "Patient", "Quiet", "Rapid", "Steady", "Tidy", "Vivid",
        "Witty",
    ];
    const SECOND: &[&str] = &[
        "Anchor", "Badger", "Canyon", "Dune", "Ember", "Falcon", "Glacier", "Harbor", "Island",
        "Juniper", "Kettle", "Lantern", "Meadow", "Nebula", "Orchard", "Pebble", "Quarry", "River",
        "Summit", "Willow",
    ];
    let mut rng = rand::thread_rng();
    let first = FIRST.choose(&mut rng).copied().unwrap_or("Quiet");
    let second = SECOND.choose(&mut rng).copied().unwrap_or("Harbor");
    format!("{first}{second}")
}
