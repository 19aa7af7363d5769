//! Extractors whose rejections are [`ApiError`]s that say what was wrong: `Body<T>` (a JSON body),
//! `OptionalBody<T>`, and drop-in `Query<T>` / `Path<T>` (axum's own answer a bad query string or path
//! segment in plain text, outside the API's error shape).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use super::ApiError;

/// Like `axum::Json`, but a bad body answers 400 with our error shape and the parser's explanation.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "invalid JSON body: {}; send Content-Type: application/json with the documented fields",
                e.body_text()
            ))),
        }
    }
}

/// A JSON body that may be absent: an empty body reads as `T::default()`.
pub struct OptionalBody<T>(pub T);

impl<S, T> FromRequest<S> for OptionalBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("unreadable body: {}", e.body_text())))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalBody)
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "invalid JSON body: {e}; send the documented fields or no body"
                ))
            })
    }
}

/// Like `axum::extract::Query`, but a bad query string answers 400 in the API's error shape.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "invalid query string: {}; see the endpoint's documented parameters",
                e.body_text()
            ))),
        }
    }
}

/// Like `axum::extract::Path`, but a bad path segment answers 400 in the API's error shape.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "invalid path: {}",
                e.body_text()
            ))),
        }
    }
}
