//! Finding the binaries under test: built by cargo from this workspace,
//! never guessed from `target/debug` (a stale build there would be tested
//! instead, and `CARGO_TARGET_DIR` or `--release` move it).
//!
//! The first call runs one `cargo build --message-format=json` for every
//! binary the harness starts, in the profile the harness itself was built
//! in, and reads the executables' paths from cargo's own report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};

/// The workspace packages whose binaries the harness runs.
pub const PACKAGES: [&str; 3] = ["proxy-seq", "proxy-thread", "proxy-async"];

/// The workspace root (where the top-level `Cargo.toml` is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The path of the freshly built executable of `package` (one of
/// [`PACKAGES`]). Builds them all the first time.
pub fn binary(package: &str) -> Result<PathBuf> {
    static BUILT: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| build_all().map_err(|e| format!("{e:#}")));
    match built {
        Ok(map) => map
            .get(package)
            .cloned()
            .ok_or_else(|| anyhow!("cargo built no executable for {package}")),
        Err(e) => Err(anyhow!("building the binaries under test failed: {e}")),
    }
}

fn build_all() -> Result<HashMap<String, PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .arg("--message-format=json-render-diagnostics");
    for package in PACKAGES {
        cmd.args(["-p", package]);
    }
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !output.status.success() {
        bail!("cargo build failed ({})", output.status);
    }
    let mut found = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let (Some(name), Some(exe)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) else {
            continue;
        };
        if PACKAGES.contains(&name) {
            found.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    Ok(found)
}
