// SPDX-License-Identifier: Apache-2.0
//! Finds libgemma2: GEMMA2_LIB_DIR (a directory holding libgemma2.so, e.g. a meson
//! build directory) if set, else `pkg-config --libs-only-L gemma2` if that works, else
//! the linker's default search path. No crates.io dependency: pkg-config is run as a
//! program.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GEMMA2_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_SYSROOT_DIR");

    match env::var("GEMMA2_LIB_DIR") {
        Ok(dir) if !dir.is_empty() => {
            println!("cargo:rustc-link-search=native={dir}");
            // Tests and examples run from a build tree find the library without
            // LD_LIBRARY_PATH.
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        _ => match pkg_config_lib_dirs() {
            Some(dirs) => {
                for dir in dirs {
                    println!("cargo:rustc-link-search=native={dir}");
                }
            }
            None => println!(
                "cargo:warning=pkg-config does not know gemma2 and GEMMA2_LIB_DIR is not set: \
                     looking for libgemma2 on the linker's default path"
            ),
        },
    }
    println!("cargo:rustc-link-lib=dylib=gemma2");
}

/// The -L directories `pkg-config --libs-only-L gemma2` prints, or None if pkg-config
/// is missing or does not know gemma2 (then the default search path is used).
fn pkg_config_lib_dirs() -> Option<Vec<String>> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(pkg_config).args(["--libs-only-L", "gemma2"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.split_whitespace().filter_map(|w| w.strip_prefix("-L")).map(str::to_string).collect())
}
