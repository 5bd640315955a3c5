//! Test support shared by unit and black-box tests: external-tool gating.
//! Public (hidden from docs) so `tests/` can use it too.

/// A test needs a tool that is not here: skip with a notice, or fail when
/// `TEXTGATE_REQUIRE_EXTERNAL=1` (as CI sets) so CI never passes by skipping.
pub fn skip_or_fail(tool: &str, detail: &str) {
    let required = std::env::var("TEXTGATE_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{tool} is required (TEXTGATE_REQUIRE_EXTERNAL=1) but unavailable: {detail}\nrun: bash tools/install-test-deps"
    );
    eprintln!("SKIPPED: {tool} unavailable ({detail}); run bash tools/install-test-deps");
}
