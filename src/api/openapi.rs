//! The OpenAPI document: assembled from the route annotations, then finished with what
//! applies to every operation (the `user_id` actor header).

use utoipa::OpenApi;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

#[derive(OpenApi)]
#[openapi(
    info(title = "Letta", description = "A Letta-compatible stateful agent server.", version = "0.8.12"),
    servers((url = "/", description = "This server"))
)]
pub struct ApiDoc;

/// Collection routes (declared with a trailing slash) that clients call without one.
const COLLECTIONS: &[&str] = &[
    "/v1/agents",
    "/v1/blocks",
    "/v1/tools",
    "/v1/identities",
    "/v1/tags",
    "/v1/models",
    "/v1/health",
    "/v1/admin/users",
    "/v1/admin/orgs",
    "/v1/runs",
    "/v1/jobs",
    "/v1/steps",
    "/v1/groups",
    "/v1/sources",
    "/v1/sandbox-config",
];

pub fn is_collection_without_slash(path: &str) -> bool {
    COLLECTIONS.contains(&path)
}

fn user_id_header() -> Parameter {
    ParameterBuilder::new()
        .name("user_id")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

/// Adds the optional `user_id` header to every operation but health, auth and admin.
pub fn finish(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for (path, item) in api.paths.paths.iter_mut() {
        // The original documents no actor header on health, auth and admin routes.
        if path.starts_with("/v1/health")
            || path.starts_with("/v1/admin")
            || path == super::security::AUTH_PATH
        {
            continue;
        }
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let params = op.parameters.get_or_insert_with(Vec::new);
            // Some routes document the header as `user-id`, as the original does.
            if !params
                .iter()
                .any(|p| p.name == "user_id" || p.name == "user-id")
            {
                params.push(user_id_header());
            }
        }
    }
    api
}
