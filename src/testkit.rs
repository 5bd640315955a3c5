//! Test support shared by unit and black-box tests: finding external tools
//! and gating on them. Not part of the service.

use std::path::{Path, PathBuf};

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

/// Where `tools/install-test-deps` puts the tools it builds or unpacks.
pub fn tool_cache() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(cache.join("textgate").join("bin"))
}

/// Finds an external program: `$TEXTGATE_<NAME>` (upper case, `-` as `_`),
/// then the install-test-deps cache, then `PATH`, then Go's bin directories.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let var = format!("TEXTGATE_{}", name.to_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let mut dirs: Vec<PathBuf> = tool_cache().into_iter().collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    if let Some(gobin) = std::env::var_os("GOBIN") {
        dirs.push(PathBuf::from(gobin));
    }
    match std::env::var_os("GOPATH") {
        Some(gopath) => dirs.extend(std::env::split_paths(&gopath).map(|p| p.join("bin"))),
        None => dirs.extend(std::env::var_os("HOME").map(|h| Path::new(&h).join("go").join("bin"))),
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// [`find_tool`], or [`skip_or_fail`] with how to install it.
pub fn require_tool(name: &str, how: &str) -> Option<PathBuf> {
    let found = find_tool(name);
    if found.is_none() {
        skip_or_fail(
            name,
            &format!("not found in $TEXTGATE_{}, the tool cache, PATH or Go's bin ({how})", name.to_uppercase()),
        );
    }
    found
}

/// A free TCP port on 127.0.0.1 for a child process to bind (it is released
/// before the child binds it; the window is small).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}
