//! What the C-facing tests share: where the built libraries and the header are, and
//! whether this is a native build (C programs compiled here can only link native code).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate directory (`capi/`).
pub fn capi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `capi/include/batchnorm.h`.
pub fn header() -> PathBuf {
    capi_dir().join("include").join("batchnorm.h")
}

/// `None` when the tests run on the machine they were built for; otherwise why they
/// cannot compile and run C programs here (cross builds under qemu or wasm).
pub fn not_native() -> Option<String> {
    let (host, target) = (env!("BN_CAPI_BUILD_HOST"), env!("BN_CAPI_BUILD_TARGET"));
    (host != target || !cfg!(unix)).then(|| format!("built for {target} on {host}"))
}

/// The freshest built `libbatchnorm_capi.<ext>` (`a` or `so`). Cargo builds every crate
/// type of the library before the tests: into `<profile>/deps/` (where this test
/// executable lives, with or without a hash in the name) and, for `cargo build`, copied
/// to `<profile>/`. The newest of those is the one built from the current sources.
pub fn lib(ext: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("the test executable is in <profile>/deps/");
    let profile = deps.parent().expect("<profile>/deps/");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for dir in [deps, profile] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name == format!("libbatchnorm_capi.{ext}")
                || (name.starts_with("libbatchnorm_capi-") && name.ends_with(&format!(".{ext}")));
            if let (true, Ok(meta)) = (ours, entry.metadata()) {
                found.push((meta.modified().expect("mtime"), entry.path()));
            }
        }
    }
    found.sort();
    found.pop().map(|(_, p)| p).unwrap_or_else(|| {
        panic!(
            "no libbatchnorm_capi.{ext} in {} or {} (run `cargo build -p batchnorm-capi`)",
            deps.display(),
            profile.display()
        )
    })
}

/// Runs a command, panicking with its output when it fails; returns its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout.into_owned()
}

/// Compiles `src` (C or C++ by `compiler`) with `flags`, linked against the static
/// library, into the test's temporary directory; returns the executable's path.
pub fn build_program(compiler: &str, flags: &[&str], src: &Path, exe_name: &str) -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(exe_name);
    let lib = lib("a");
    run(Command::new(compiler)
        .args(flags)
        .arg("-I")
        .arg(capi_dir().join("include"))
        .arg(src)
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe));
    exe
}
