//! Sandbox configurations (where and how custom tools run) and their environment variables.
//!
//! A config is stored as the JSON object of its type (`LocalSandboxConfig` or
//! `E2BSandboxConfig`) with `null` fields left out, as the original stores it.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};

use super::Timestamp;
use super::common::naive_utc;
use super::tool::PipRequirement;

/// Name of the venv inside the sandbox directory when a config names none.
pub const DEFAULT_VENV_NAME: &str = "venv";
/// E2B sandbox lifetime in seconds when a config gives none.
pub const DEFAULT_E2B_TIMEOUT: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SandboxType {
    E2b,
    Local,
}

impl SandboxType {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxType::E2b => "e2b",
            SandboxType::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "e2b" => Some(SandboxType::E2b),
            "local" => Some(SandboxType::Local),
            _ => None,
        }
    }
}

/// A stored sandbox configuration: one per type and organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// The id of the user that made this object.
    pub created_by_id: Option<String>,
    /// The id of the user that made this object.
    pub last_updated_by_id: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    /// The human-friendly ID of the Sandbox.
    #[schema(required = false, pattern = "^sandbox-[a-fA-F0-9]{8}")]
    pub id: String,
    /// The type of sandbox.
    #[serde(rename = "type")]
    #[schema(required = false)]
    pub kind: SandboxType,
    /// The unique identifier of the organization associated with the sandbox.
    pub organization_id: Option<String>,
    /// The JSON sandbox settings data.
    #[schema(required = false, value_type = Object)]
    pub config: Map<String, Value>,
}

impl SandboxConfig {
    /// The stored settings read as a local config (defaults for what is missing).
    pub fn local_config(&self) -> Result<LocalSandboxConfig, serde_json::Error> {
        serde_json::from_value(Value::Object(self.config.clone()))
    }
}

fn default_venv_name() -> String {
    DEFAULT_VENV_NAME.to_owned()
}

fn default_e2b_timeout() -> i64 {
    DEFAULT_E2B_TIMEOUT
}

/// Settings of the local sandbox. Unknown keys are ignored, as the original ignores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LocalSandboxConfig {
    /// Directory for the sandbox environment.
    #[serde(default)]
    pub sandbox_dir: Option<String>,
    /// Whether or not to use the venv, or run directly in the same run loop.
    #[serde(default)]
    pub use_venv: bool,
    /// The name for the venv in the sandbox directory.
    #[serde(default = "default_venv_name")]
    pub venv_name: String,
    /// Pip packages to install with mandatory name and optional version; only considered
    /// when use_venv is true.
    #[serde(default)]
    pub pip_requirements: Vec<PipRequirement>,
}

impl Default for LocalSandboxConfig {
    fn default() -> Self {
        LocalSandboxConfig {
            sandbox_dir: None,
            use_venv: false,
            venv_name: default_venv_name(),
            pip_requirements: Vec::new(),
        }
    }
}

/// Settings of an E2B cloud sandbox (stored and listed; nothing runs on E2B here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct E2BSandboxConfig {
    /// Time limit for the sandbox (in seconds).
    #[serde(default = "default_e2b_timeout")]
    pub timeout: i64,
    /// The E2B template id (docker image).
    #[serde(default)]
    pub template: Option<String>,
    /// Pip packages to install on the E2B sandbox.
    #[serde(default)]
    pub pip_requirements: Option<Vec<String>>,
}

impl Default for E2BSandboxConfig {
    fn default() -> Self {
        E2BSandboxConfig {
            timeout: DEFAULT_E2B_TIMEOUT,
            template: None,
            pip_requirements: None,
        }
    }
}

/// A config of either type, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedSandboxConfig {
    Local(LocalSandboxConfig),
    E2b(E2BSandboxConfig),
}

impl TypedSandboxConfig {
    pub fn kind(&self) -> SandboxType {
        match self {
            TypedSandboxConfig::Local(_) => SandboxType::Local,
            TypedSandboxConfig::E2b(_) => SandboxType::E2b,
        }
    }

    /// Checks what the type's fields cannot say by themselves (see [`validate`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate(self)
    }

    /// The JSON object stored for this config: every field, `null`s left out (also inside
    /// pip requirements), as the original's `model_dump(exclude_none=True)`.
    pub fn to_stored(&self) -> Map<String, Value> {
        let value = match self {
            TypedSandboxConfig::Local(c) => serde_json::to_value(c),
            TypedSandboxConfig::E2b(c) => serde_json::to_value(c),
        }
        .unwrap_or(Value::Null);
        match strip_nulls(value) {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// Why a config object could not be read: where (below `config`) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: Vec<Value>,
    pub msg: String,
    pub input: Value,
}

/// The `config` of a create or update body: a JSON object that is either a
/// `LocalSandboxConfig` or an `E2BSandboxConfig`. Which one is decided when it is resolved
/// (see [`SandboxConfigInput::resolve`]), as the original decides it from the shape sent.
#[derive(Clone, PartialEq, Serialize)]
pub struct SandboxConfigInput(pub Map<String, Value>);

impl fmt::Debug for SandboxConfigInput {
    // The keys are enough to debug with; values are user settings not worth logging.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SandboxConfigInput")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<'de> Deserialize<'de> for SandboxConfigInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Reported through the usual "expected a map" wording, which the extractors turn
        // into pydantic's `dict_type` error.
        Map::<String, Value>::deserialize(d).map(SandboxConfigInput)
    }
}

/// Keys only a local config has.
const LOCAL_KEYS: &[&str] = &["sandbox_dir", "use_venv", "venv_name"];
/// Keys only an E2B config has.
const E2B_KEYS: &[&str] = &["timeout", "template"];

impl SandboxConfigInput {
    /// Decides the type from the keys sent and decodes the object as that type. The type
    /// with more of its own keys present wins; `pip_requirements` counts for local when its
    /// items are objects (`{name, version}`) and for E2B when they are strings. A tie goes
    /// to `tie` (the original's union tries local first; an update passes the stored type).
    /// Unknown keys are ignored, as the original ignores them.
    pub fn resolve(&self, tie: SandboxType) -> Result<TypedSandboxConfig, ConfigError> {
        let count = |keys: &[&str]| keys.iter().filter(|k| self.0.contains_key(**k)).count();
        let (mut local, mut e2b) = (count(LOCAL_KEYS), count(E2B_KEYS));
        if let Some(Value::Array(items)) = self.0.get("pip_requirements") {
            if items.iter().any(Value::is_object) {
                local += 1;
            } else if items.iter().any(Value::is_string) {
                e2b += 1;
            }
        }
        let kind = match local.cmp(&e2b) {
            std::cmp::Ordering::Greater => SandboxType::Local,
            std::cmp::Ordering::Less => SandboxType::E2b,
            std::cmp::Ordering::Equal => tie,
        };
        let value = Value::Object(self.0.clone());
        let config = match kind {
            SandboxType::Local => TypedSandboxConfig::Local(decode::<LocalSandboxConfig>(
                &value,
                "LocalSandboxConfig",
            )?),
            SandboxType::E2b => {
                TypedSandboxConfig::E2b(decode::<E2BSandboxConfig>(&value, "E2BSandboxConfig")?)
            }
        };
        validate(&config)?;
        Ok(config)
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: &Value, model: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let mut path = vec![json!(model)];
        let mut input = value;
        for seg in err.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => {
                    path.push(json!(index));
                    input = input.get(*index).unwrap_or(&Value::Null);
                }
                serde_path_to_error::Segment::Map { key } => {
                    path.push(json!(key));
                    input = input.get(key.as_str()).unwrap_or(&Value::Null);
                }
                _ => {}
            }
        }
        ConfigError {
            path,
            msg: err.inner().to_string(),
            input: input.clone(),
        }
    })
}

/// Rules the original does not check but a server must: names that reach the file system
/// or pip's command line cannot smuggle in a path or an option.
fn validate(config: &TypedSandboxConfig) -> Result<(), ConfigError> {
    let err = |path: Vec<Value>, msg: &str, input: &str| ConfigError {
        path,
        msg: msg.to_owned(),
        input: json!(input),
    };
    match config {
        TypedSandboxConfig::Local(c) => {
            let name = c.venv_name.as_str();
            if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
                return Err(err(
                    vec![json!("LocalSandboxConfig"), json!("venv_name")],
                    "venv_name must be a plain directory name inside sandbox_dir (no path \
                     separators, not '.' or '..')",
                    name,
                ));
            }
            if c.sandbox_dir.as_deref().is_some_and(|d| d.contains('\0')) {
                return Err(err(
                    vec![json!("LocalSandboxConfig"), json!("sandbox_dir")],
                    "sandbox_dir must not contain a NUL character",
                    c.sandbox_dir.as_deref().unwrap_or_default(),
                ));
            }
            for (i, req) in c.pip_requirements.iter().enumerate() {
                let at = |field: &str| {
                    vec![
                        json!("LocalSandboxConfig"),
                        json!("pip_requirements"),
                        json!(i),
                        json!(field),
                    ]
                };
                if let Some(msg) = bad_requirement_part(&req.name, true) {
                    return Err(err(at("name"), msg, &req.name));
                }
                if let Some(version) = &req.version
                    && let Some(msg) = bad_requirement_part(version, false)
                {
                    return Err(err(at("version"), msg, version));
                }
            }
        }
        TypedSandboxConfig::E2b(c) => {
            if c.timeout <= 0 {
                return Err(ConfigError {
                    path: vec![json!("E2BSandboxConfig"), json!("timeout")],
                    msg: "timeout must be a positive number of seconds".to_owned(),
                    input: json!(c.timeout),
                });
            }
            for (i, req) in c.pip_requirements.iter().flatten().enumerate() {
                if let Some(msg) = bad_requirement_part(req, true) {
                    return Err(err(
                        vec![
                            json!("E2BSandboxConfig"),
                            json!("pip_requirements"),
                            json!(i),
                        ],
                        msg,
                        req,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Why a requirement name or version cannot be handed to pip, if it cannot: empty, white
/// space or control characters, or a leading `-` (pip would read it as an option).
fn bad_requirement_part(part: &str, is_name: bool) -> Option<&'static str> {
    if is_name && part.is_empty() {
        return Some("String should have at least 1 character");
    }
    if part.starts_with('-') {
        return Some("a pip requirement cannot start with '-' (it would be read as a pip option)");
    }
    if part.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("a pip requirement cannot contain white space or control characters");
    }
    None
}

impl utoipa::PartialSchema for SandboxConfigInput {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("LocalSandboxConfig"))
            .item(Ref::from_schema_name("E2BSandboxConfig"))
            .into()
    }
}

impl ToSchema for SandboxConfigInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SandboxConfigInput")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        use utoipa::PartialSchema as _;
        schemas.push((
            "LocalSandboxConfig".to_owned(),
            LocalSandboxConfig::schema(),
        ));
        <LocalSandboxConfig as ToSchema>::schemas(schemas);
        schemas.push(("E2BSandboxConfig".to_owned(), E2BSandboxConfig::schema()));
        <E2BSandboxConfig as ToSchema>::schemas(schemas);
    }
}

/// Creates the organization's config of the type the `config` shape says, or replaces the
/// settings of the one it has.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfigCreate {
    /// The configuration for the sandbox.
    #[schema(inline)]
    pub config: SandboxConfigInput,
}

/// Pydantic model for updating SandboxConfig fields.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfigUpdate {
    /// The JSON configuration data for the sandbox.
    #[serde(default)]
    #[schema(inline)]
    pub config: Option<SandboxConfigInput>,
}

/// A variable set in the environment of the tools run in a sandbox. The value is a secret:
/// it is returned to the API client (as the original does) but never logged, so `Debug`
/// leaves it out.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxEnvironmentVariable {
    /// The id of the user that made this object.
    pub created_by_id: Option<String>,
    /// The id of the user that made this object.
    pub last_updated_by_id: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    /// The human-friendly ID of the Sandbox-env.
    #[schema(required = false, pattern = "^sandbox-env-[a-fA-F0-9]{8}")]
    pub id: String,
    /// The name of the environment variable.
    pub key: String,
    /// The value of the environment variable.
    pub value: String,
    /// An optional description of the environment variable.
    pub description: Option<String>,
    /// The ID of the organization this environment variable belongs to.
    pub organization_id: Option<String>,
    /// The ID of the sandbox config this environment variable belongs to.
    pub sandbox_config_id: String,
}

impl fmt::Debug for SandboxEnvironmentVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxEnvironmentVariable")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("value", &"<redacted>")
            .field("description", &self.description)
            .field("organization_id", &self.organization_id)
            .field("sandbox_config_id", &self.sandbox_config_id)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxEnvironmentVariableCreate {
    /// The name of the environment variable.
    pub key: String,
    /// The value of the environment variable.
    pub value: String,
    /// An optional description of the environment variable.
    #[serde(default)]
    pub description: Option<String>,
}

impl fmt::Debug for SandboxEnvironmentVariableCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxEnvironmentVariableCreate")
            .field("key", &self.key)
            .field("value", &"<redacted>")
            .field("description", &self.description)
            .finish()
    }
}

#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxEnvironmentVariableUpdate {
    /// The name of the environment variable.
    #[serde(default)]
    pub key: Option<String>,
    /// The value of the environment variable.
    #[serde(default)]
    pub value: Option<String>,
    /// An optional description of the environment variable.
    #[serde(default)]
    pub description: Option<String>,
}

impl fmt::Debug for SandboxEnvironmentVariableUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxEnvironmentVariableUpdate")
            .field("key", &self.key)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .field("description", &self.description)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(v: Value) -> SandboxConfigInput {
        match v {
            Value::Object(m) => SandboxConfigInput(m),
            _ => panic!("object"),
        }
    }

    #[test]
    fn type_is_inferred_from_the_keys_sent() {
        let local = SandboxType::Local;
        assert_eq!(input(json!({})).resolve(local).unwrap().kind(), local);
        assert_eq!(
            input(json!({})).resolve(SandboxType::E2b).unwrap().kind(),
            SandboxType::E2b
        );
        assert_eq!(
            input(json!({"timeout": 10})).resolve(local).unwrap().kind(),
            SandboxType::E2b
        );
        assert_eq!(
            input(json!({"pip_requirements": ["numpy"]}))
                .resolve(local)
                .unwrap()
                .kind(),
            SandboxType::E2b
        );
        assert_eq!(
            input(json!({"pip_requirements": [{"name": "numpy"}]}))
                .resolve(SandboxType::E2b)
                .unwrap()
                .kind(),
            local
        );
        assert_eq!(
            input(json!({"use_venv": true, "venv_name": "v"}))
                .resolve(local)
                .unwrap()
                .kind(),
            local
        );
    }

    #[test]
    fn stored_form_leaves_nulls_out() {
        let config = input(json!({"sandbox_dir": "/tmp/x", "pip_requirements": [{"name": "a"}]}))
            .resolve(SandboxType::Local)
            .unwrap();
        assert_eq!(
            Value::Object(config.to_stored()),
            json!({"sandbox_dir": "/tmp/x", "use_venv": false, "venv_name": "venv",
                   "pip_requirements": [{"name": "a"}]})
        );
        let e2b = input(json!({"timeout": 5}))
            .resolve(SandboxType::Local)
            .unwrap();
        assert_eq!(Value::Object(e2b.to_stored()), json!({"timeout": 5}));
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in [
            json!({"venv_name": "../x"}),
            json!({"venv_name": ""}),
            json!({"pip_requirements": [{"name": "--index-url=http://x"}]}),
            json!({"pip_requirements": [{"name": "a", "version": "1 --pre"}]}),
            json!({"pip_requirements": [{"name": ""}]}),
            json!({"use_venv": "yes"}),
        ] {
            assert!(
                input(bad.clone()).resolve(SandboxType::Local).is_err(),
                "{bad}"
            );
        }
        assert!(
            input(json!({"timeout": 0}))
                .resolve(SandboxType::Local)
                .is_err()
        );
    }
}
