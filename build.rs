//! Rebuild when a migration is added or edited: the migrations are embedded in the binary
//! (`embed_migrations!`), and cargo does not otherwise watch that directory.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
