//! The `sys` declarations match `ringkernel.h`: a C program compiled
//! against the real header prints every struct's size and field offsets
//! and every enum value and constant, and each must equal the Rust side.
//! The header's text is also scanned, so an enumerator or function added
//! there without a Rust twin fails here too.
use std::collections::{BTreeMap, BTreeSet};
use std::env;
use std::fs;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

use ringkernel::sys;

/// Size of a field, from a projection closure (no value needed).
fn field_size<T, F>(_: impl Fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// For each struct: its size, then each field's offset and size.
macro_rules! structs {
    ($($s:ident { $($f:ident),* $(,)? })*) => {{
        let mut c = String::new();
        let mut rust = Vec::<(String, usize)>::new();
        $(
            c += &format!("  printf(\"size {0} %zu\\n\", sizeof({0}));\n", stringify!($s));
            rust.push((format!("size {}", stringify!($s)), size_of::<sys::$s>()));
            $(
                c += &format!(
                    "  printf(\"offset {0}.{1} %zu\\n\", offsetof({0}, {1}));\n  printf(\"fieldsize {0}.{1} %zu\\n\", sizeof((({0}*)0)->{1}));\n",
                    stringify!($s), stringify!($f));
                rust.push((format!("offset {}.{}", stringify!($s), stringify!($f)), offset_of!(sys::$s, $f)));
                rust.push((format!("fieldsize {}.{}", stringify!($s), stringify!($f)), field_size(|s: &sys::$s| &s.$f)));
            )*
        )*
        (c, rust)
    }};
}

/// Every `rk_*` function of the header, by name (taking its address also
/// proves the declaration links).
macro_rules! functions {
    ($($f:ident),* $(,)?) => { vec![$((stringify!($f), sys::$f as *const () as usize)),*] };
}

fn include_dir() -> PathBuf {
    PathBuf::from(env!("RINGKERNEL_INCLUDE_DIR"))
}

fn header_text() -> String {
    let h = include_dir().join("ringkernel/ringkernel.h");
    fs::read_to_string(&h).unwrap_or_else(|e| panic!("read {}: {e}", h.display()))
}

/// Compiles and runs `program` with the system C compiler; returns stdout.
fn run_c(program: &str) -> String {
    let dir = env::temp_dir().join(format!("rk-rust-layout-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    fs::write(&src, program).unwrap();
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Werror", "-I"])
        .arg(include_dir())
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(out.status.success(), "C compile failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let _ = fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout).unwrap()
}

fn enumerators() -> Vec<(&'static str, u32)> {
    let mut all = Vec::new();
    all.extend(sys::rk_status::ALL.iter().map(|&(n, v)| (n, v.0)));
    all.extend(sys::rk_state::ALL.iter().map(|&(n, v)| (n, v.0)));
    all.extend(sys::rk_backend::ALL.iter().map(|&(n, v)| (n, v.0)));
    all.extend(sys::rk_transfer::ALL.iter().map(|&(n, v)| (n, v.0)));
    all
}

#[test]
fn sys_layout_matches_the_c_header() {
    let (struct_c, mut rust) = structs! {
        rk_server_info { size, abi_version, sessions, instances, pid, default_backend, has_cuda }
        rk_launch_options { size, backend, instance_name, grid, block, ring_bytes, device, transfer }
        rk_metrics {
            size, state, processed, errors, dropped, queue_depth, latency_min_ns, latency_avg_ns,
            latency_max_ns, heartbeat_ns, epoch, channels, last_error
        }
        rk_status {}
        rk_state {}
        rk_backend {}
        rk_transfer {}
    };
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <ringkernel/ringkernel.h>\nint main(void) {\n",
    );
    c += &struct_c;
    for (name, value) in enumerators() {
        c += &format!("  printf(\"enum {name} %lld\\n\", (long long){name});\n");
        rust.push((format!("enum {name}"), value as usize));
    }
    for (name, value) in [("RK_ABI_VERSION", sys::RK_ABI_VERSION), ("RK_MAX_PAYLOAD", sys::RK_MAX_PAYLOAD)] {
        c += &format!("  printf(\"define {name} %lld\\n\", (long long){name});\n");
        rust.push((format!("define {name}"), value as usize));
    }
    c += "  return 0;\n}\n";

    let printed: BTreeMap<String, usize> = run_c(&c)
        .lines()
        .map(|l| {
            let (key, v) = l.rsplit_once(' ').unwrap();
            (key.to_string(), v.parse().unwrap())
        })
        .collect();
    let mut mismatches = Vec::new();
    for (key, value) in &rust {
        match printed.get(key) {
            Some(c_value) if c_value == value => {}
            other => mismatches.push(format!("{key}: C {other:?}, Rust {value}")),
        }
    }
    assert!(mismatches.is_empty(), "sys does not match ringkernel.h:\n{}", mismatches.join("\n"));
    assert_eq!(printed.len(), rust.len());
}

#[test]
fn every_enumerator_of_the_header_is_declared() {
    // An enumerator is an `RK_` identifier followed by `=`, outside comments.
    let code = strip_comments(&header_text());
    let in_header: BTreeSet<String> = code
        .match_indices("RK_")
        .filter(|&(i, _)| i == 0 || !is_ident(code.as_bytes()[i - 1] as char))
        .filter_map(|(i, _)| {
            let rest = &code[i..];
            let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            rest[end..].trim_start().starts_with('=').then(|| rest[..end].to_string())
        })
        .collect();
    let in_rust: BTreeSet<String> = enumerators().into_iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(in_header, in_rust);
}

#[test]
fn every_function_of_the_header_is_declared() {
    let fns = functions![
        rk_abi_version, rk_status_string, rk_last_error_message, rk_connect, rk_disconnect,
        rk_server_info_init, rk_server_info_get, rk_launch_options_init, rk_launch, rk_attach,
        rk_activate, rk_deactivate, rk_terminate, rk_kernel_release, rk_kernel_state, rk_kernel_id,
        rk_metrics_init, rk_kernel_metrics, rk_send, rk_receive, rk_call, rk_reserve, rk_commit,
        rk_message_data, rk_message_type, rk_message_correlation, rk_message_status, rk_message_capnp,
        rk_message_release, rk_reserve_envelope, rk_commit_envelope,
    ];
    let declared: BTreeSet<&str> = fns.iter().map(|&(n, addr)| {
        assert_ne!(addr, 0, "{n}");
        n
    }).collect();
    // A declaration is `rk_name(`, outside comments.
    let code = strip_comments(&header_text());
    let in_header: BTreeSet<&str> = code
        .match_indices('(')
        .filter_map(|(i, _)| {
            let before = code[..i].trim_end();
            let start = before.rfind(|c: char| !is_ident(c)).map_or(0, |p| p + 1);
            Some(&before[start..]).filter(|name| name.starts_with("rk_"))
        })
        .collect();
    assert!(in_header.len() >= 31, "the header scan found only {in_header:?}");
    let missing: Vec<_> = in_header.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&in_header).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing in sys: {missing:?}; not in header: {extra:?}");
}

fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("/*") {
        out += &rest[..i];
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    out + rest
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
