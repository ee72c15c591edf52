//! The OpenAPI document: assembled from the route annotations, then finished with what
//! applies to every operation (the `user_id` actor header, the error responses).

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, Schema};
use utoipa::openapi::{
    ComponentsBuilder, Content, ObjectBuilder, Ref, RefOr, Required, Response, Type,
};

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

/// FastAPI's name for the body of a 422: `{"detail": [ValidationError, …]}`.
const VALIDATION_ERROR_BODY: &str = "HTTPValidationError";
/// FastAPI's name for one item of a 422's `detail`.
const VALIDATION_ERROR_ITEM: &str = "ValidationError";
/// Our name for every other error body, `{"detail": "…"}` (the reference names none).
const ERROR_BODY: &str = "HTTPError";

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// The three error schemas, the first two exactly as FastAPI documents them.
fn error_schemas() -> [(&'static str, Schema); 3] {
    let validation_body = ObjectBuilder::new()
        .title(Some(VALIDATION_ERROR_BODY))
        .property(
            "detail",
            ArrayBuilder::new()
                .title(Some("Detail"))
                .items(Ref::from_schema_name(VALIDATION_ERROR_ITEM)),
        )
        .build();
    let loc_item = AnyOfBuilder::new()
        .item(string_schema())
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .build();
    let validation_item = ObjectBuilder::new()
        .title(Some(VALIDATION_ERROR_ITEM))
        .property(
            "loc",
            ArrayBuilder::new()
                .title(Some("Location"))
                .items(RefOr::T(Schema::AnyOf(loc_item))),
        )
        .required("loc")
        .property("msg", string_schema().title(Some("Message")))
        .required("msg")
        .property("type", string_schema().title(Some("Error Type")))
        .required("type")
        .build();
    let error_body = ObjectBuilder::new()
        .title(Some(ERROR_BODY))
        .description(Some("Every error but a 422: `{\"detail\": \"…\"}`."))
        .property("detail", string_schema().title(Some("Detail")))
        .required("detail")
        .build();
    [
        (VALIDATION_ERROR_BODY, Schema::Object(validation_body)),
        (VALIDATION_ERROR_ITEM, Schema::Object(validation_item)),
        (ERROR_BODY, Schema::Object(error_body)),
    ]
}

fn json_content(schema: &str) -> Content {
    Content::new(Some(Ref::from_schema_name(schema)))
}

/// Every operation can answer 404 (an unknown id, agent or route parameter) and 422 (bad
/// input, answered by our extractors): both are documented with their bodies, and every other
/// error status an operation declares gets the `{"detail": "…"}` body, so clients and
/// schema-driven fuzzers know what an error looks like.
fn document_errors(op: &mut Operation) {
    let responses = &mut op.responses.responses;
    responses
        .entry("404".to_owned())
        .or_insert_with(|| RefOr::T(Response::new("Not Found")));
    responses
        .entry("422".to_owned())
        .or_insert_with(|| RefOr::T(Response::new("Validation Error")));
    for (code, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !(code.starts_with('4') || code.starts_with('5')) || !response.content.is_empty() {
            continue;
        }
        let schema = if code == "422" {
            VALIDATION_ERROR_BODY
        } else {
            ERROR_BODY
        };
        response
            .content
            .insert("application/json".to_owned(), json_content(schema));
    }
}

/// Adds the optional `user_id` header to every operation but health, auth and admin, and the
/// error responses to every operation.
pub fn finish(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for (path, item) in api.paths.paths.iter_mut() {
        // The original documents no actor header on health, auth and admin routes.
        let actor_header = !(path.starts_with("/v1/health")
            || path.starts_with("/v1/admin")
            || path == super::security::AUTH_PATH
            // Tests a server that is not stored: no actor, as the original documents it.
            || path == "/v1/tools/mcp/servers/test");
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
            document_errors(op);
            if !actor_header {
                continue;
            }
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
    let components = api
        .components
        .get_or_insert_with(|| ComponentsBuilder::new().build());
    for (name, schema) in error_schemas() {
        components.schemas.insert(name.to_owned(), RefOr::T(schema));
    }
    api
}
