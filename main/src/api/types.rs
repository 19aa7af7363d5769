//! The TypeScript declarations of every type the browser UI exchanges with main, generated from the Rust
//! definitions (ts-rs) so they are never copied by hand. `web/src/api/types.gen.ts` holds the output; the
//! `types` test in `vibebridge-tests` fails when it is stale and rewrites it with `VB_UPDATE_TYPES=1`.

use ts_rs::{Config, TS};
use vibebridge_tunnel::fs::{DirListing, Entry, EntryKind};
use vibebridge_tunnel::git::{
    BranchInfo, BranchList, CommitInfo, FileDiff, FileState, GitDiff, GitLog, GitStatus,
    StatusEntry,
};
use vibebridge_tunnel::protocol::ProviderInfo;
use vibebridge_tunnel::session::{
    Decision, EventBody, Provider, Resolution, SessionEvent, SessionStatus, ToolKind, ToolStatus,
    Usage,
};
use vibebridge_tunnel::terminal::{TerminalClientFrame, TerminalServerFrame};

use crate::store::{PendingApproval, UsageTotals};

/// Where the generated file lives, relative to the workspace root.
pub const TS_PATH: &str = "web/src/api/types.gen.ts";

fn decl<T: TS + ?Sized>(cfg: &Config) -> String {
    format!("export {}\n", T::decl(cfg))
}

/// The whole generated file.
pub fn typescript() -> String {
    let cfg = Config::new().with_large_int("number");
    let decls = [
        decl::<serde_json::Value>(&cfg),
        decl::<vibebridge_tunnel::reply::ErrorCode>(&cfg),
        decl::<vibebridge_tunnel::ids::NodeId>(&cfg),
        decl::<vibebridge_tunnel::ids::SessionId>(&cfg),
        decl::<vibebridge_tunnel::ids::ApprovalId>(&cfg),
        decl::<Provider>(&cfg),
        decl::<SessionStatus>(&cfg),
        decl::<ToolKind>(&cfg),
        decl::<ToolStatus>(&cfg),
        decl::<Decision>(&cfg),
        decl::<Resolution>(&cfg),
        decl::<Usage>(&cfg),
        decl::<EventBody>(&cfg),
        decl::<SessionEvent>(&cfg),
        decl::<crate::store::Role>(&cfg),
        decl::<super::auth::UserView>(&cfg),
        decl::<super::auth::PasswordChange>(&cfg),
        decl::<super::keys::AddKey>(&cfg),
        decl::<super::keys::KeyChallenge>(&cfg),
        decl::<ProviderInfo>(&cfg),
        decl::<crate::store::NodeFlagKind>(&cfg),
        decl::<super::nodes::NodeFlagView>(&cfg),
        decl::<super::nodes::NodeView>(&cfg),
        decl::<super::nodes::TokenView>(&cfg),
        decl::<UsageTotals>(&cfg),
        decl::<super::sessions::SessionView>(&cfg),
        decl::<crate::store::ApprovalKind>(&cfg),
        decl::<PendingApproval>(&cfg),
        decl::<super::approvals::ApprovalView>(&cfg),
        decl::<super::frames::Topic>(&cfg),
        decl::<super::frames::ApprovalChange>(&cfg),
        decl::<super::frames::NodeChange>(&cfg),
        decl::<super::frames::ClientFrame>(&cfg),
        decl::<super::frames::ServerFrame>(&cfg),
        decl::<EntryKind>(&cfg),
        decl::<Entry>(&cfg),
        decl::<DirListing>(&cfg),
        decl::<FileState>(&cfg),
        decl::<StatusEntry>(&cfg),
        decl::<GitStatus>(&cfg),
        decl::<FileDiff>(&cfg),
        decl::<GitDiff>(&cfg),
        decl::<CommitInfo>(&cfg),
        decl::<GitLog>(&cfg),
        decl::<BranchInfo>(&cfg),
        decl::<BranchList>(&cfg),
        decl::<super::bodies::ErrorDetail>(&cfg),
        decl::<super::bodies::ErrorBody>(&cfg),
        decl::<super::bodies::Health>(&cfg),
        decl::<super::bodies::AuthStatus>(&cfg),
        decl::<super::auth::Credentials>(&cfg),
        decl::<super::auth::RefreshBody>(&cfg),
        decl::<super::auth::Profile>(&cfg),
        decl::<super::auth::LoggedIn>(&cfg),
        decl::<super::bodies::LoggedOut>(&cfg),
        decl::<super::bodies::LoginsEnded>(&cfg),
        decl::<super::bodies::PasswordChanged>(&cfg),
        decl::<super::keys::KeyView>(&cfg),
        decl::<super::bodies::KeyRemoved>(&cfg),
        decl::<crate::store::AuditEvent>(&cfg),
        decl::<super::audit::EntryView>(&cfg),
        decl::<super::users::RoleBody>(&cfg),
        decl::<super::nodes::TokenRequest>(&cfg),
        decl::<super::nodes::MemberBody>(&cfg),
        decl::<super::bodies::NodeRevoked>(&cfg),
        decl::<crate::ops::sessions::NewSession>(&cfg),
        decl::<super::sessions::ListQuery>(&cfg),
        decl::<super::sessions::MessageBody>(&cfg),
        decl::<super::bodies::MessageAccepted>(&cfg),
        decl::<super::bodies::StopRequested>(&cfg),
        decl::<super::session_events::EventsQuery>(&cfg),
        decl::<super::bodies::EventsPage>(&cfg),
        decl::<super::bodies::StreamError>(&cfg),
        decl::<super::approvals::DecideBody>(&cfg),
        decl::<super::bodies::Decided>(&cfg),
        decl::<super::audit::Page>(&cfg),
        decl::<super::fs::ListQuery>(&cfg),
        decl::<super::fs::PathQuery>(&cfg),
        decl::<super::fs::CreateBody>(&cfg),
        decl::<super::fs::RenameBody>(&cfg),
        decl::<super::fs::DeleteBody>(&cfg),
        decl::<super::fs::transfer::UploadQuery>(&cfg),
        decl::<super::bodies::Deleted>(&cfg),
        decl::<super::git::RepoQuery>(&cfg),
        decl::<super::git::DiffQuery>(&cfg),
        decl::<super::git::LogQuery>(&cfg),
        decl::<super::git::NewBranch>(&cfg),
        decl::<super::git::CheckoutBody>(&cfg),
        decl::<super::git::PathsBody>(&cfg),
        decl::<super::git::CommitBody>(&cfg),
        decl::<super::bodies::Committed>(&cfg),
        decl::<super::terminal::TerminalQuery>(&cfg),
        decl::<TerminalClientFrame>(&cfg),
        decl::<TerminalServerFrame>(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust definitions by vibebridge_main::api::types; do not edit.\n\
         // Regenerate: VB_UPDATE_TYPES=1 cargo test -p vibebridge-tests --test types\n\n",
    );
    for d in decls {
        out.push_str(&d);
        out.push('\n');
    }
    out
}
