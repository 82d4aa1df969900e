//! The README's benchmark table is generated from a saved run (`docs/bench.json`, written by
//! `make bench-readme`). This checks that the two were not edited apart: the table in the README
//! is exactly what `switchyard bench table docs/bench.json` prints.

use std::path::Path;

use switchyard::bench::report::{README_BEGIN, README_END, README_RUN, splice_readme, table};

#[test]
fn the_readme_shows_the_saved_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let run = std::fs::read_to_string(root.join(README_RUN)).expect("the saved bench run");
    let run: serde_json::Value = serde_json::from_str(&run).expect("docs/bench.json is JSON");
    let table = table(&run).expect("docs/bench.json is a bench run");
    assert_eq!(
        readme.matches(README_BEGIN).count(),
        1,
        "one generated part in the README"
    );
    assert!(readme.contains(README_END));
    let regenerated = splice_readme(&readme, &table).expect("markers");
    assert!(
        regenerated == readme,
        "README.md's benchmark table differs from {README_RUN}; run `make bench-readme` \
         (or `switchyard bench table {README_RUN} --readme README.md`) instead of editing it"
    );
    // Every figure names its unit in its key, and says how many samples it rests on.
    for figure in run["figures"].as_array().expect("figures") {
        let key = figure["key"].as_str().expect("key");
        assert!(
            ["_ms", "_s", "_mib", "_ratio"]
                .iter()
                .any(|u| key.ends_with(u)),
            "{key} names no unit"
        );
        assert!(
            figure["samples"].as_u64().is_some(),
            "{key} has no sample count"
        );
    }
}
