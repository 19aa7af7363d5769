//! The HTTP API: routes, the JSON error shape and the health endpoint.

mod approvals;
mod audit;
mod auth;
pub mod bodies;
mod body;
mod error;
pub mod extract;
pub mod frames;
mod fs;
mod git;
mod github;
pub(crate) mod guard;
mod keys;
pub mod live;
mod nodes;
pub(crate) mod notify;
mod projects;
mod runs;
mod session_events;
mod sessions;
mod tasks;
mod terminal;
pub mod topics;
pub mod types;
mod users;
mod workspaces;
pub mod ws;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::Method;
use axum::routing::{MethodFilter, get, on};

pub use body::{Body, OptionalBody, Path, Query};
pub use error::ApiError;

use crate::state::AppState;

/// Declares the API's routes once: [`ROUTES`] lists them and `api_routes` builds the router from the same
/// rows, so the list cannot drift from what is served (`tests/tests/rbac.rs` needs a row for each).
macro_rules! routes {
    (prefix $prefix:literal; $($method:ident $path:literal => $handler:expr,)*) => {
        /// Where the API is nested.
        const API_PREFIX: &str = $prefix;

        /// Every route main serves over HTTP: method and full path (`{param}` as axum writes it). The UI
        /// fallback (`/` and any other path outside the API) is not a route.
        pub const ROUTES: &[(Method, &str)] = &[
            (Method::GET, HEALTH),
            $((Method::$method, concat!($prefix, $path)),)*
        ];

        fn api_routes() -> Router<AppState> {
            Router::new()$(.route($path, on(MethodFilter::$method, $handler)))*
        }
    };
}

/// The liveness endpoint, outside the API prefix.
const HEALTH: &str = "/health";

routes! {
    prefix "/api/v1";
    GET "/auth/status" => auth::status,
    POST "/auth/register" => auth::register,
    POST "/auth/login" => auth::login,
    POST "/auth/logout" => auth::logout,
    POST "/auth/logout-all" => auth::logout_all,
    POST "/auth/password" => auth::change_password,
    POST "/auth/refresh" => auth::refresh,
    GET "/auth/me" => auth::me,
    PUT "/auth/me/profile" => auth::set_profile,
    GET "/auth/me/keys" => keys::list,
    POST "/auth/me/keys" => keys::add,
    POST "/auth/me/keys/challenge" => keys::challenge,
    DELETE "/auth/me/keys/{id}" => keys::remove,
    GET "/users" => users::list,
    POST "/users/{user}/approve" => users::approve,
    POST "/users/{user}/role" => users::set_role,
    GET "/nodes" => nodes::list,
    POST "/nodes/tokens" => nodes::create_token,
    GET "/nodes/{id}" => nodes::get,
    DELETE "/nodes/{id}" => nodes::revoke,
    POST "/nodes/{id}/members" => nodes::add_member,
    DELETE "/nodes/{id}/members/{username}" => nodes::remove_member,
    GET "/nodes/{id}/fs/list" => fs::list,
    GET "/nodes/{id}/fs/stat" => fs::stat,
    GET "/nodes/{id}/fs/read" => fs::read,
    GET "/nodes/{id}/fs/download" => fs::download,
    PUT "/nodes/{id}/fs/write" => fs::write,
    PUT "/nodes/{id}/fs/upload" => fs::upload,
    POST "/nodes/{id}/fs/create" => fs::create,
    POST "/nodes/{id}/fs/rename" => fs::rename,
    POST "/nodes/{id}/fs/delete" => fs::delete,
    GET "/nodes/{id}/git/status" => git::status,
    GET "/nodes/{id}/git/diff" => git::diff,
    GET "/nodes/{id}/git/log" => git::log,
    GET "/nodes/{id}/git/branches" => git::branches,
    POST "/nodes/{id}/git/branches" => git::create_branch,
    POST "/nodes/{id}/git/checkout" => git::checkout,
    POST "/nodes/{id}/git/stage" => git::stage,
    POST "/nodes/{id}/git/unstage" => git::unstage,
    POST "/nodes/{id}/git/discard" => git::discard,
    POST "/nodes/{id}/git/commit" => git::commit,
    GET "/nodes/{id}/terminal" => terminal::upgrade,
    GET "/sessions" => sessions::list,
    POST "/sessions" => sessions::create,
    GET "/sessions/{id}" => sessions::get,
    GET "/sessions/{id}/events" => session_events::events,
    GET "/sessions/{id}/stream" => session_events::stream,
    POST "/sessions/{id}/messages" => sessions::message,
    POST "/sessions/{id}/stop" => sessions::stop,
    POST "/sessions/{id}/approvals/{approval_id}" => approvals::decide,
    GET "/approvals" => approvals::approvals,
    GET "/ws" => ws::upgrade,
    GET "/audit" => audit::list,
    GET "/workspaces" => workspaces::list,
    POST "/workspaces" => workspaces::create,
    GET "/workspaces/{id}" => workspaces::get,
    PATCH "/workspaces/{id}" => workspaces::update,
    DELETE "/workspaces/{id}" => workspaces::delete,
    POST "/workspaces/{id}/members" => workspaces::set_member,
    DELETE "/workspaces/{id}/members/{username}" => workspaces::remove_member,
    GET "/workspaces/{id}/templates" => workspaces::templates,
    PUT "/workspaces/{id}/templates/{name}" => workspaces::put_template,
    DELETE "/workspaces/{id}/templates/{name}" => workspaces::delete_template,
    GET "/workspaces/{id}/board" => workspaces::board,
    GET "/workspaces/{id}/tasks" => workspaces::tasks,
    POST "/workspaces/{id}/tasks" => workspaces::create_task,
    GET "/workspaces/{id}/export" => workspaces::export,
    POST "/workspaces/{id}/import" => workspaces::import,
    GET "/workspaces/{id}/projects" => workspaces::projects,
    POST "/workspaces/{id}/projects" => workspaces::create_project,
    GET "/projects/{id}" => projects::get,
    PATCH "/projects/{id}" => projects::update,
    DELETE "/projects/{id}" => projects::delete,
    GET "/projects/{id}/branches" => projects::branches,
    GET "/projects/{id}/worktrees" => projects::worktrees,
    GET "/tasks/{id}" => tasks::get,
    PATCH "/tasks/{id}" => tasks::update,
    DELETE "/tasks/{id}" => tasks::delete,
    POST "/tasks/{id}/move" => tasks::move_to,
    GET "/tasks/{id}/subtasks" => tasks::subtasks,
    GET "/tasks/{id}/comments" => tasks::comments,
    POST "/tasks/{id}/comments" => tasks::add_comment,
    PATCH "/tasks/{id}/comments/{comment_id}" => tasks::edit_comment,
    DELETE "/tasks/{id}/comments/{comment_id}" => tasks::delete_comment,
    GET "/tasks/{id}/activity" => tasks::activity,
    GET "/tasks/{id}/attachments" => tasks::attachments,
    GET "/tasks/{id}/attachments/{attachment_id}" => tasks::attachment,
    GET "/tasks/{id}/runs" => runs::list,
    POST "/tasks/{id}/runs" => runs::start,
    GET "/runs/{id}" => runs::get,
    POST "/runs/{id}/stop" => runs::stop,
    POST "/runs/{id}/dev" => runs::dev_server,
    GET "/runs/{id}/diff" => runs::diff,
    GET "/runs/{id}/comments" => runs::comments,
    POST "/runs/{id}/comments" => runs::add_comment,
    POST "/runs/{id}/comments/send" => runs::send_comments,
    PATCH "/runs/{id}/comments/{comment_id}" => runs::edit_comment,
    DELETE "/runs/{id}/comments/{comment_id}" => runs::delete_comment,
    POST "/runs/{id}/rebase" => runs::rebase,
    POST "/runs/{id}/merge" => runs::merge,
    POST "/runs/{id}/cleanup" => runs::cleanup,
    GET "/usage" => runs::usage,
    POST "/runs/{id}/push" => github::push,
    GET "/runs/{id}/pull-request" => github::run_pull_request,
    POST "/runs/{id}/pull-request" => github::create_pull_request,
    PATCH "/pull-requests/{id}" => github::update_pull_request,
    POST "/pull-requests/{id}/address" => github::address,
    POST "/pull-requests/{id}/refresh" => github::refresh,
    GET "/github/connection" => github::status,
    DELETE "/github/connection" => github::disconnect,
    POST "/github/connect" => github::start,
    GET "/github/callback" => github::callback,
    POST "/github/device" => github::device,
    DELETE "/github/device" => github::cancel_device,
    POST "/github/token" => github::token,
    GET "/github/repos" => github::list_repos,
    POST "/github/repos/{id}/connect" => github::connect_repo,
    GET "/workspaces/{id}/github/repos" => github::connected,
    DELETE "/github/connected/{id}" => github::disconnect_repo,
    POST "/github/connected/{id}/project" => github::project,
    POST "/github/connected/{id}/import-issues" => github::import_issues,
    POST "/github/webhook" => github::webhook,
    GET "/push/key" => notify::key,
    GET "/push/subscriptions" => notify::devices,
    POST "/push/subscriptions" => notify::subscribe,
    DELETE "/push/subscriptions/{id}" => notify::unsubscribe,
    POST "/push/subscriptions/{id}/test" => notify::test_device,
    GET "/notifications/prefs" => notify::get_prefs,
    PUT "/notifications/prefs" => notify::put_prefs,
    GET "/workspaces/{id}/webhooks" => notify::list_webhooks,
    POST "/workspaces/{id}/webhooks" => notify::create_webhook,
    PATCH "/webhooks/{id}" => notify::update_webhook,
    DELETE "/webhooks/{id}" => notify::delete_webhook,
    POST "/webhooks/{id}/test" => notify::test_webhook,
    GET "/webhooks/{id}/deliveries" => notify::deliveries,
    POST "/webhooks/{id}/deliveries/{delivery}/retry" => notify::retry_delivery,
}

/// Every route main serves over HTTP ([`ROUTES`]), the API's error fallbacks and the UI.
pub fn router(state: AppState) -> Router {
    let api = api_routes()
        .fallback(|| async { ApiError::NotFound("no such API endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed(
                "this endpoint does not take that method; see the API reference".into(),
            )
        });
    Router::new()
        .route(HEALTH, get(health))
        .nest(API_PREFIX, api)
        .fallback(crate::web::serve)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// `GET /health`: liveness for load balancers and `curl`; no authentication, no secrets.
async fn health(State(state): State<AppState>) -> Json<bodies::Health> {
    Json(bodies::Health::of(&state.standing, state.registry.online()))
}
