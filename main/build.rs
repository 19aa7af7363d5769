//! Rebuilds main when the embedded UI (`web/dist`, read by `include_dir!` in `src/web.rs`) changes; the macro
//! alone does not tell cargo about the files it reads.

fn main() {
    println!("cargo:rerun-if-changed=../web/dist");
}
