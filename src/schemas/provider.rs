//! Providers an organization brings with its own key (BYOK): the stored row, and the
//! create, update and check bodies. `provider_type` is kept as its wire name here (the
//! `ProviderType` enum lives with the model clients); the service validates it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Ref, RefOr};

use super::Timestamp;
use super::common::naive_utc;
use super::llm_config::ProviderCategory;

/// The `ProviderType` component, for fields holding a provider type's wire name.
fn provider_type_schema() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name("ProviderType"))
}

/// A provider as the API shows it. The API key is never returned in full: only its first
/// and last characters (see [`mask_key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Provider {
    /// The id of the provider, lazily created by the database manager.
    pub id: Option<String>,
    /// The name of the provider
    pub name: String,
    /// The type of the provider
    #[schema(schema_with = provider_type_schema)]
    pub provider_type: String,
    /// The category of the provider (base or byok)
    pub provider_category: ProviderCategory,
    /// API key or secret key used for requests to the provider (masked).
    pub api_key: Option<String>,
    /// Base URL for the provider.
    pub base_url: Option<String>,
    /// Access key used for requests to the provider.
    pub access_key: Option<String>,
    /// Region used for requests to the provider.
    pub region: Option<String>,
    /// The organization id of the user
    pub organization_id: Option<String>,
    /// The last update timestamp of the provider.
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
}

/// Body of `create_provider`. `base_url` is an addition of this server (the original fixes
/// each type's endpoint); without it the type's public endpoint is used.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderCreate {
    /// The name of the provider.
    pub name: String,
    /// The type of the provider.
    #[schema(schema_with = provider_type_schema)]
    pub provider_type: String,
    /// API key or secret key used for requests to the provider.
    pub api_key: String,
    /// Access key used for requests to the provider.
    #[serde(default)]
    pub access_key: Option<String>,
    /// Region used for requests to the provider.
    #[serde(default)]
    pub region: Option<String>,
    /// Base URL of the provider's API (this server's addition).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// Body of `modify_provider`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpdate {
    /// API key or secret key used for requests to the provider.
    pub api_key: String,
    /// Access key used for requests to the provider.
    #[serde(default)]
    pub access_key: Option<String>,
    /// Region used for requests to the provider.
    #[serde(default)]
    pub region: Option<String>,
    /// Base URL of the provider's API (this server's addition).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// Body of `check_provider`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ProviderCheck {
    /// The type of the provider.
    #[schema(schema_with = provider_type_schema)]
    pub provider_type: String,
    /// API key or secret key used for requests to the provider.
    pub api_key: String,
    /// Access key used for requests to the provider.
    #[serde(default)]
    pub access_key: Option<String>,
    /// Region used for requests to the provider.
    #[serde(default)]
    pub region: Option<String>,
    /// Base URL of the provider's API to check against (this server's addition).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// A stored provider with its key in clear: for the server's own use, never serialized.
#[derive(Clone, PartialEq)]
pub struct ProviderRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub provider_type: String,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub access_key: Option<String>,
    pub region: Option<String>,
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for ProviderRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("provider_type", &self.provider_type)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ProviderRow {
    /// What the API shows of the row.
    pub fn to_public(&self) -> Provider {
        Provider {
            id: Some(self.id.clone()),
            name: self.name.clone(),
            provider_type: self.provider_type.clone(),
            provider_category: ProviderCategory::Byok,
            api_key: self.api_key.as_deref().map(mask_key),
            base_url: self.base_url.clone(),
            access_key: self.access_key.as_deref().map(mask_key),
            region: self.region.clone(),
            organization_id: Some(self.organization_id.clone()),
            updated_at: Some(self.updated_at),
        }
    }
}

/// A secret shown as its first three and last four characters (`sk-...abcd`); a short one
/// as `****`.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "****".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked() {
        assert_eq!(mask_key("sk-abcdefghijklmnop"), "sk-...mnop");
        assert_eq!(mask_key("short"), "****");
    }
}
