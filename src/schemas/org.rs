use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Timestamp;
use super::common::naive_utc;

pub const DEFAULT_ORG_ID: &str = "org-00000000-0000-4000-8000-000000000000";
pub const DEFAULT_ORG_NAME: &str = "default_org";
pub const DEFAULT_USER_ID: &str = "user-00000000-0000-4000-8000-000000000000";
pub const DEFAULT_USER_NAME: &str = "default_user";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    #[schema(required = false)]
    pub id: String,
    #[schema(required = false)]
    pub name: String,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    #[schema(required = false)]
    pub privileged_tools: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationCreate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub privileged_tools: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub privileged_tools: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    #[schema(required = false)]
    pub id: String,
    pub organization_id: Option<String>,
    pub name: String,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    #[schema(required = false)]
    pub is_deleted: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub name: String,
    pub organization_id: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Who makes a request: the user named by the `user_id` header, or the default user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub organization_id: String,
}

impl Actor {
    pub fn default_user() -> Self {
        Actor {
            user_id: DEFAULT_USER_ID.to_owned(),
            organization_id: DEFAULT_ORG_ID.to_owned(),
        }
    }
}

/// `POST /v1/auth`'s body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AuthRequest {
    /// The server password given at start-up (secure mode).
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /v1/auth`'s answer: who a right password makes the caller.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthResponse {
    /// The user's id as a bare UUID (ids elsewhere carry a `user-` prefix).
    #[schema(format = "uuid")]
    pub uuid: String,
    /// Whether the caller is an administrator.
    pub is_admin: Option<bool>,
}
