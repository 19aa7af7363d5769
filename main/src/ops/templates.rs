//! A workspace's prompt templates: reusable snippets written `@name` in descriptions and (with task runs)
//! prompts. Members read them; admins add, replace and delete them.

use super::workspaces::Access;
use super::{Actor, OpError};
use crate::state::AppState;
use crate::store::{AuditAction, PromptTemplate, WorkspaceRole};

/// A workspace's prompt templates (members read them).
pub fn list(state: &AppState, access: &Access) -> Result<Vec<PromptTemplate>, OpError> {
    Ok(state.store.prompt_templates(access.ws.id)?)
}

/// Creates, replaces or (`body: None`) deletes template `name` (admin).
pub fn set_template(
    state: &AppState,
    actor: &Actor,
    access: &Access,
    name: &str,
    body: Option<String>,
) -> Result<(), OpError> {
    access.require(WorkspaceRole::Admin, "change its prompt templates")?;
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(OpError::BadRequest(
            "a template name is 1–64 letters, digits, '-' or '_' (it is written @name)".into(),
        ));
    }
    if body.as_ref().is_some_and(|b| b.len() > 100_000) {
        return Err(OpError::BadRequest(
            "a template is at most 100,000 bytes".into(),
        ));
    }
    let deleting = body.is_none();
    let existed = state.store.set_prompt_template(access.ws.id, name, body)?;
    if deleting && !existed {
        return Err(OpError::NotFound(format!("no template {name:?}")));
    }
    state.store.audit(
        actor
            .audit(AuditAction::WorkspaceTemplateChanged)
            .target(access.ws.id.to_string())
            .detail(if deleting {
                format!("deleted @{name}")
            } else {
                format!("set @{name}")
            }),
    );
    Ok(())
}

/// Replaces each `@name` of a template in `text` by the template's body (one level; unknown names stay).
pub fn expand_templates(text: &str, templates: &[PromptTemplate]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(after.len());
        let preceded_by_word = out
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '.');
        match templates.iter().find(|t| t.name == after[..len]) {
            Some(t) if len > 0 && !preceded_by_word => out.push_str(&t.body),
            _ => {
                out.push('@');
                out.push_str(&after[..len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, body: &str) -> PromptTemplate {
        PromptTemplate {
            name: name.into(),
            body: body.into(),
            updated_at: 0,
        }
    }

    /// Proves `@name` expands to the template, while e-mail addresses and unknown names stay as written.
    #[test]
    fn templates_expand_only_whole_names() {
        let ts = [t("tests", "Run the tests."), t("style", "Follow STYLE.md")];
        assert_eq!(
            expand_templates("Fix it. @tests Mail a@tests.com, @nobody @style.", &ts),
            "Fix it. Run the tests. Mail a@tests.com, @nobody Follow STYLE.md."
        );
    }
}
