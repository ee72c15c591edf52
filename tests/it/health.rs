use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;

both_backends!(
    health_reports_version,
    |app: crate::helpers::TestApp| async move {
        for path in ["/v1/health/", "/v1/health", "/latest/health/"] {
            let (status, body) = app.get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(body, json!({"version": "0.8.12", "status": "ok"}));
        }
    }
);

both_backends!(
    unknown_route_is_404_json,
    |app: crate::helpers::TestApp| async move {
        let resp = app.client.get(app.url("/v1/nope")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body, json!({"detail": "Not Found"}));
        // A known path with another method: FastAPI's JSON 405.
        let resp = app.client.put(app.url("/v1/health/")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body, json!({"detail": "Method Not Allowed"}));
    }
);

both_backends!(
    openapi_document_is_served,
    |app: crate::helpers::TestApp| async move {
        let (status, body) = app.get("/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["paths"]["/v1/health/"]["get"].is_object());
    }
);
