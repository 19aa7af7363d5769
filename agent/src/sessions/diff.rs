//! Unified-diff pieces both providers' file changes are rendered with, so the UI shows one format.

/// `--- a/… / +++ b/…` headers for a change to `path` (absolute paths lose their leading `/`).
pub fn header(path: &str) -> String {
    let rel = path.trim_start_matches('/');
    format!("--- a/{rel}\n+++ b/{rel}\n")
}

/// The whole diff of a newly created file with `content`.
pub fn added_file(path: &str, content: &str) -> String {
    let lines: Vec<&str> = content.lines().collect();
    let mut out = format!(
        "--- /dev/null\n+++ b/{}\n@@ -0,0 +1,{} @@\n",
        path.trim_start_matches('/'),
        lines.len()
    );
    for l in lines {
        out.push('+');
        out.push_str(l);
        out.push('\n');
    }
    out
}
