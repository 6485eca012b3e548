//! Finds libringkernel and tells rustc how to link it.
//!
//! Search order (the first that yields a directory holding
//! `libringkernel.so` wins):
//!
//! 1. `RINGKERNEL_LIB_DIR`: a directory with `libringkernel.so`.
//! 2. `pkg-config --libs ringkernel` (honours `PKG_CONFIG_PATH`).
//! 3. `RINGKERNEL_BUILD_DIR/lib`: a CMake build tree of this project.
//! 4. `../../build/lib`: the project's default build tree.
//!
//! The directory found is also written into the rpath of this package's
//! tests, examples and binaries, so they run without `LD_LIBRARY_PATH`.
//! The header directory (for the layout test) comes from
//! `RINGKERNEL_INCLUDE_DIR`, else `pkg-config --cflags`, else the
//! project's `capi/include`.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const LIB_FILE: &str = "libringkernel.so";

fn main() {
    for var in [
        "RINGKERNEL_LIB_DIR",
        "RINGKERNEL_BUILD_DIR",
        "RINGKERNEL_INCLUDE_DIR",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let project = manifest.join("../..");
    let mut tried = Vec::new();

    let lib_dir = find_lib_dir(&project, &mut tried).unwrap_or_else(|| {
        panic!(
            "\n\nringkernel: cannot find {LIB_FILE}. Tried:\n{}\n\n\
             Build the C library first (cmake -S . -B build -G Ninja && ninja -C build ringkernel),\n\
             then point this crate at it with one of:\n  \
             RINGKERNEL_LIB_DIR=/path/to/dir/with/{LIB_FILE}\n  \
             RINGKERNEL_BUILD_DIR=/path/to/cmake/build (uses its lib/)\n  \
             PKG_CONFIG_PATH=/dir/with/ringkernel.pc (an installed library)\n\n",
            tried.iter().map(|t| format!("  - {t}")).collect::<Vec<_>>().join("\n")
        )
    });

    if let Some(dir) = &lib_dir.dir {
        println!("cargo:rustc-link-search=native={}", dir.display());
        // Tests and examples of this package find the library without
        // LD_LIBRARY_PATH. (Link arguments do not reach dependent crates.)
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        println!("cargo:rerun-if-changed={}", dir.join(LIB_FILE).display());
        println!("cargo:lib_dir={}", dir.display());
    }
    println!("cargo:rustc-link-lib=dylib=ringkernel");

    let include = include_dir(&project);
    println!("cargo:rustc-env=RINGKERNEL_INCLUDE_DIR={}", include.display());
    println!("cargo:include={}", include.display());
    println!("cargo:rerun-if-changed={}", include.join("ringkernel/ringkernel.h").display());
}

/// Where the library was found. `dir` is None when pkg-config names no
/// `-L` directory (the library lies in the linker's default path).
struct Found {
    dir: Option<PathBuf>,
}

fn find_lib_dir(project: &Path, tried: &mut Vec<String>) -> Option<Found> {
    if let Some(dir) = env::var_os("RINGKERNEL_LIB_DIR") {
        let dir = PathBuf::from(dir);
        if dir.join(LIB_FILE).exists() {
            return Some(Found { dir: Some(absolute(&dir)) });
        }
        tried.push(format!("RINGKERNEL_LIB_DIR={}: no {LIB_FILE} there", dir.display()));
    } else {
        tried.push("RINGKERNEL_LIB_DIR: not set".into());
    }

    match pkg_config(&["--libs", "ringkernel"]) {
        Ok(out) => {
            let dirs: Vec<PathBuf> = out.split_whitespace().filter_map(|f| f.strip_prefix("-L")).map(PathBuf::from).collect();
            if dirs.is_empty() {
                return Some(Found { dir: None });
            }
            if let Some(d) = dirs.iter().find(|d| d.join(LIB_FILE).exists()) {
                return Some(Found { dir: Some(d.clone()) });
            }
            tried.push(format!("pkg-config --libs ringkernel: `{}` names no directory with {LIB_FILE}", out.trim()));
        }
        Err(why) => tried.push(format!("pkg-config --libs ringkernel: {why}")),
    }

    let build_dirs: Vec<(String, PathBuf)> = match env::var_os("RINGKERNEL_BUILD_DIR") {
        Some(b) => vec![("RINGKERNEL_BUILD_DIR".into(), PathBuf::from(b))],
        None => {
            tried.push("RINGKERNEL_BUILD_DIR: not set".into());
            vec![("the project's default build tree".into(), project.join("build"))]
        }
    };
    for (what, build) in build_dirs {
        let dir = build.join("lib");
        if dir.join(LIB_FILE).exists() {
            return Some(Found { dir: Some(absolute(&dir)) });
        }
        tried.push(format!("{what}: no {} ", dir.join(LIB_FILE).display()));
    }
    None
}

fn include_dir(project: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("RINGKERNEL_INCLUDE_DIR") {
        return absolute(Path::new(&dir));
    }
    if let Ok(out) = pkg_config(&["--cflags", "ringkernel"]) {
        if let Some(d) = out
            .split_whitespace()
            .filter_map(|f| f.strip_prefix("-I"))
            .map(PathBuf::from)
            .find(|d| d.join("ringkernel/ringkernel.h").exists())
        {
            return d;
        }
    }
    absolute(&project.join("capi/include"))
}

fn pkg_config(args: &[&str]) -> Result<String, String> {
    let pkg = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let out = Command::new(&pkg).args(args).output().map_err(|e| format!("cannot run {pkg}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().next().unwrap_or("failed").trim().to_string());
    }
    String::from_utf8(out.stdout).map_err(|_| "output is not UTF-8".to_string())
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}
