use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IdentityType {
    Org,
    User,
    Other,
}

impl IdentityType {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityType::Org => "org",
            IdentityType::User => "user",
            IdentityType::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "org" => Some(IdentityType::Org),
            "user" => Some(IdentityType::User),
            "other" => Some(IdentityType::Other),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IdentityPropertyType {
    String,
    Number,
    Boolean,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityProperty {
    pub key: String,
    #[schema(schema_with = property_value_schema)]
    pub value: Value,
    #[serde(rename = "type")]
    pub kind: IdentityPropertyType,
}

/// What `IdentityProperty.value` accepts (the service refuses `null` and lists), as the
/// reference documents it.
fn property_value_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, AnyOfBuilder, ObjectBuilder, Type};
    let of = |t: Type| ObjectBuilder::new().schema_type(t);
    AnyOfBuilder::new()
        .item(of(Type::String))
        .item(of(Type::Integer))
        .item(of(Type::Number))
        .item(of(Type::Boolean))
        .item(of(Type::Object).additional_properties(Some(AdditionalProperties::FreeForm(true))))
        .description(Some("The value of the property"))
        .build()
        .into()
}

/// A person, organization or other party agents and blocks can belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    #[schema(required = false)]
    pub id: String,
    pub identifier_key: String,
    pub name: String,
    pub identity_type: IdentityType,
    pub project_id: Option<String>,
    pub agent_ids: Vec<String>,
    pub block_ids: Vec<String>,
    pub organization_id: Option<String>,
    #[schema(required = false)]
    pub properties: Vec<IdentityProperty>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityCreate {
    pub identifier_key: String,
    pub name: String,
    pub identity_type: IdentityType,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub agent_ids: Option<Vec<String>>,
    #[serde(default)]
    pub block_ids: Option<Vec<String>>,
    #[serde(default)]
    pub properties: Option<Vec<IdentityProperty>>,
}

/// Same fields as [`IdentityCreate`]; a separate name because the API documents it separately.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityUpsert {
    pub identifier_key: String,
    pub name: String,
    pub identity_type: IdentityType,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub agent_ids: Option<Vec<String>>,
    #[serde(default)]
    pub block_ids: Option<Vec<String>>,
    #[serde(default)]
    pub properties: Option<Vec<IdentityProperty>>,
}

impl From<IdentityUpsert> for IdentityCreate {
    fn from(u: IdentityUpsert) -> Self {
        IdentityCreate {
            identifier_key: u.identifier_key,
            name: u.name,
            identity_type: u.identity_type,
            project_id: u.project_id,
            agent_ids: u.agent_ids,
            block_ids: u.block_ids,
            properties: u.properties,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityUpdate {
    #[serde(default)]
    pub identifier_key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub identity_type: Option<IdentityType>,
    #[serde(default)]
    pub agent_ids: Option<Vec<String>>,
    #[serde(default)]
    pub block_ids: Option<Vec<String>>,
    #[serde(default)]
    pub properties: Option<Vec<IdentityProperty>>,
}
