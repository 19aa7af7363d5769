//! `Body<T>`: a JSON request body whose rejection is an [`ApiError`] that says what was wrong.

use axum::extract::{FromRequest, Request};

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
