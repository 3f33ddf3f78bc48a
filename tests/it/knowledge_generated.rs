//! The generated knowledge files (`knowledge/conditions.json`, `knowledge/products.json`) are what
//! `scripts/gen_knowledge.py` makes from `drugs.toml`, `products-extra.toml` and the value sets:
//! a new drug row or product without a re-run would otherwise ship a stale product table that no
//! other test notices (the service reads only the generated files).

use std::path::Path;
use std::process::Command;

#[test]
fn generated_knowledge_files_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/gen_knowledge.py"))
        .arg("--check")
        .current_dir(root)
        .output()
        .expect("python3 runs scripts/gen_knowledge.py (Python 3.11+, standard library only)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "knowledge/*.json are stale: run `python3 scripts/gen_knowledge.py` and commit the result\n\
         {}\n{}",
        stdout
            .lines()
            .filter(|l| l.contains("would change") || l.contains("unchanged"))
            .collect::<Vec<_>>()
            .join("\n"),
        stderr
    );
}
