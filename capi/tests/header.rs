//! `include/batchnorm.h` against the library: the same functions (names, parameter names
//! and types, return types), structs (fields in order, types), enum constants and version
//! as the Rust declarations in `src/`, and the same `bn_*` symbols as the built static and
//! shared libraries export. Any disagreement fails the test.

mod support;

use batchnorm_capi::{Status, enums::C_ENUMS};
use std::collections::BTreeMap;
use std::process::Command;

/// A function or a struct: its name, its items `(name, C type)`, and (functions) its
/// return type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decl {
    items: Vec<(String, String)>,
    ret: String,
}

/// What a header or the Rust sources declare.
#[derive(Debug, Default)]
struct Api {
    functions: BTreeMap<String, Decl>,
    structs: BTreeMap<String, Decl>,
    enums: BTreeMap<String, Vec<(String, i64)>>,
}

/// `/* */` and `//` comments replaced by a space.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("/*") {
            rest = &r[r.find("*/").expect("unterminated comment") + 2..];
            out.push(' ');
        } else if let Some(r) = rest.strip_prefix("//") {
            rest = &r[r.find('\n').unwrap_or(r.len())..];
        } else {
            let ch = rest.chars().next().unwrap();
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// Whitespace collapsed, no space before `*`, one after: `const float *` -> `const float*`.
fn norm_type(t: &str) -> String {
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    t.replace(" *", "*").replace('*', "* ").trim().to_string()
}

/// `"const float* x"` -> `("x", "const float*")`.
fn c_item(decl: &str) -> (String, String) {
    let decl = decl.trim();
    let split = decl
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .expect("a declaration has a type and a name");
    (decl[split + 1..].to_string(), norm_type(&decl[..=split]))
}

/// Splits at `sep` outside parentheses and braces.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let (mut depth, mut cur, mut out) = (0i32, String::new(), Vec::new());
    for ch in s.chars() {
        match ch {
            '(' | '{' => depth += 1,
            ')' | '}' => depth -= 1,
            _ => {}
        }
        if ch == sep && depth == 0 {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// The text between the first `open` and its matching `close`, and what follows.
fn enclosed(s: &str, open: char, close: char) -> (&str, &str) {
    let start = s.find(open).expect("opening bracket") + 1;
    let mut depth = 1;
    for (i, ch) in s[start..].char_indices() {
        if ch == open {
            depth += 1;
        } else if ch == close {
            depth -= 1;
            if depth == 0 {
                return (&s[start..start + i], &s[start + i + 1..]);
            }
        }
    }
    panic!("unbalanced {open}{close} in {s}");
}

/// The header's `#define NAME value` lines.
fn defines(header: &str) -> BTreeMap<String, String> {
    header
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#define "))
        .filter_map(|l| {
            let (name, value) = l.split_once(char::is_whitespace)?;
            Some((name.to_string(), value.trim().to_string()))
        })
        .collect()
}

fn parse_header(text: &str) -> Api {
    // Drop preprocessor lines and the C++-only `extern "C" {` / `}` they guard.
    let mut body = String::new();
    let mut cplusplus = false;
    for line in strip_comments(text).lines() {
        let t = line.trim();
        if t.starts_with("#ifdef __cplusplus") {
            cplusplus = true;
        } else if cplusplus && t.starts_with("#endif") {
            cplusplus = false;
        } else if !cplusplus && !t.starts_with('#') {
            body.push_str(line);
            body.push('\n');
        }
    }
    let mut api = Api::default();
    for stmt in split_top(&body, ';') {
        let stmt = stmt.trim();
        if stmt.is_empty() {
            continue;
        }
        if let Some(rest) = stmt.strip_prefix("typedef enum ") {
            let name = rest.split_whitespace().next().unwrap().to_string();
            let (inner, after) = enclosed(rest, '{', '}');
            assert_eq!(after.trim(), name, "typedef enum {name} names itself");
            let mut values: Vec<(String, i64)> = split_top(inner, ',')
                .iter()
                .map(|v| {
                    let (k, v) = v.split_once('=').expect("every constant has a value");
                    let v = v.trim();
                    let v = match v.strip_prefix("0x") {
                        Some(hex) => i64::from_str_radix(hex, 16).expect("hex value"),
                        None => v.parse().expect("integer value"),
                    };
                    (k.trim().to_string(), v)
                })
                .collect();
            // The last constant keeps the enum int-sized under -fshort-enums; it is not a
            // value of the enum.
            let (last, max) = values.pop().expect("an enum has constants");
            assert!(
                last.ends_with("_MAX_ENUM") && max == 0x7fff_ffff,
                "{name} ends with {last} = {max}, not a *_MAX_ENUM = 0x7fffffff"
            );
            api.enums.insert(name, values);
        } else if let Some(rest) = stmt.strip_prefix("typedef struct ") {
            let name = rest.split_whitespace().next().unwrap().to_string();
            let (inner, after) = enclosed(rest, '{', '}');
            assert_eq!(after.trim(), name, "typedef struct {name} names itself");
            let items = split_top(inner, ';').iter().map(|f| c_item(f)).collect();
            let decl = Decl {
                items,
                ret: String::new(),
            };
            api.structs.insert(name, decl);
        } else {
            let (head, _) = stmt.split_once('(').expect("a function prototype");
            let (name, ret) = c_item(head);
            let (params, _) = enclosed(stmt, '(', ')');
            let items = match params.trim() {
                "void" => Vec::new(),
                p => split_top(p, ',').iter().map(|p| c_item(p)).collect(),
            };
            api.functions.insert(name, Decl { items, ret });
        }
    }
    api
}

/// The C spelling of a Rust type used in the C API.
fn rust_to_c(t: &str) -> String {
    let t = t.trim();
    if let Some(inner) = t.strip_prefix("*const ") {
        return format!("const {}*", rust_to_c(inner));
    }
    if let Some(inner) = t.strip_prefix("*mut ") {
        return format!("{}*", rust_to_c(inner));
    }
    match t {
        "f32" => "float".into(),
        "f64" => "double".into(),
        "usize" => "size_t".into(),
        "u32" => "uint32_t".into(),
        "u64" => "uint64_t".into(),
        "c_int" => "int".into(),
        "c_char" => "char".into(),
        "" => "void".into(),
        _ if t.starts_with("Bn") => {
            // BnNormParams -> bn_norm_params
            let mut s = String::new();
            for (i, ch) in t.char_indices() {
                if ch.is_uppercase() && i > 0 {
                    s.push('_');
                }
                s.push(ch.to_ascii_lowercase());
            }
            s
        }
        _ => panic!("no C spelling for the Rust type `{t}`: add it to rust_to_c"),
    }
}

/// `"x: *const f32"` -> `("x", "const float*")`.
fn rust_item(s: &str) -> (String, String) {
    let (name, ty) = s.split_once(':').expect("`name: Type`");
    let name = name.trim().trim_start_matches("pub ").trim();
    (name.to_string(), norm_type(&rust_to_c(ty)))
}

/// The exported functions and `repr(C)` structs of the Rust sources.
fn parse_rust(sources: &[String]) -> Api {
    let mut api = Api::default();
    for src in sources {
        let src = strip_comments(src);
        for (i, _) in src.match_indices("#[unsafe(no_mangle)]") {
            let rest = &src[i..];
            let sig = &rest[rest.find("fn ").expect("an exported fn") + 3..];
            let name = sig[..sig.find('(').unwrap()].trim().to_string();
            let (params, after) = enclosed(sig, '(', ')');
            let ret = after[..after.find('{').unwrap()].trim();
            let ret = ret.strip_prefix("->").unwrap_or("").trim();
            let items = split_top(params, ',')
                .iter()
                .map(|p| rust_item(p))
                .collect();
            let ret = norm_type(&rust_to_c(ret));
            assert!(
                api.functions
                    .insert(name.clone(), Decl { items, ret })
                    .is_none(),
                "{name} is exported twice"
            );
        }
        for (i, _) in src.match_indices("#[repr(C)]") {
            let rest = &src[i..];
            let sig = &rest[rest.find("pub struct ").expect("a struct") + 11..];
            let name = rust_to_c(sig.split_whitespace().next().unwrap());
            let (fields, _) = enclosed(sig, '{', '}');
            let items = split_top(fields, ',')
                .iter()
                .map(|f| rust_item(f))
                .collect();
            let decl = Decl {
                items,
                ret: String::new(),
            };
            api.structs.insert(name, decl);
        }
    }
    api
}

fn rust_sources() -> Vec<String> {
    let dir = support::capi_dir().join("src");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn header_text() -> String {
    std::fs::read_to_string(support::header()).expect("read include/batchnorm.h")
}

/// Prints both sides of a disagreement, item by item.
fn assert_same<T: std::fmt::Debug + PartialEq>(
    what: &str,
    header: &BTreeMap<String, T>,
    rust: &BTreeMap<String, T>,
) {
    let mut problems = Vec::new();
    for (name, h) in header {
        match rust.get(name) {
            None => problems.push(format!("{what} `{name}` is in the header, not in Rust")),
            Some(r) if r != h => problems.push(format!(
                "{what} `{name}`:\n  header: {h:?}\n  rust:   {r:?}"
            )),
            Some(_) => {}
        }
    }
    for name in rust.keys().filter(|n| !header.contains_key(*n)) {
        problems.push(format!("{what} `{name}` is in Rust, not in the header"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn functions_and_structs_match_the_rust_declarations() {
    let header = parse_header(&header_text());
    let rust = parse_rust(&rust_sources());
    assert!(
        header.functions.len() >= 10,
        "{:?}",
        header.functions.keys()
    );
    assert_same("function", &header.functions, &rust.functions);
    assert_same("struct", &header.structs, &rust.structs);
}

#[test]
fn enum_constants_match_the_rust_tables() {
    let header = parse_header(&header_text());
    let mut rust: BTreeMap<String, Vec<(String, i64)>> = C_ENUMS
        .iter()
        .map(|(name, values)| {
            let values = values.iter().map(|(k, v)| (k.to_string(), i64::from(*v)));
            (name.to_string(), values.collect())
        })
        .collect();
    let status = Status::ALL
        .iter()
        .map(|s| (s.c_name().to_string(), *s as i64));
    rust.insert("bn_status".into(), status.collect());
    assert_same("enum", &header.enums, &rust);
    assert_eq!(Status::ALL[0], Status::Ok);
    assert_eq!(Status::Ok as i32, 0);
}

#[test]
fn isa_constants_cover_every_level_of_the_library() {
    // One `BN_ISA_<NAME>` per level of `batchnorm::Isa::ALL`, valued by its position there,
    // in the header; the C API's conversions agree with it in both directions.
    let header = parse_header(&header_text());
    let want: Vec<(String, i64)> = batchnorm::Isa::ALL
        .iter()
        .enumerate()
        .map(|(i, isa)| (format!("BN_ISA_{}", isa.name().to_uppercase()), i as i64))
        .collect();
    assert_eq!(header.enums["bn_isa"], want);
    assert_eq!(
        want.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["BN_ISA_PORTABLE", "BN_ISA_AVX2", "BN_ISA_AVX512"]
    );
    for (i, isa) in batchnorm::Isa::ALL.into_iter().enumerate() {
        let code = i as std::ffi::c_int;
        assert_eq!(batchnorm_capi::enums::isa_code(isa), code, "{isa}");
        assert_eq!(batchnorm_capi::enums::isa_from_code(code), Some(isa));
    }
    for code in [-1, 3, i32::MIN, i32::MAX] {
        assert_eq!(batchnorm_capi::enums::isa_from_code(code), None, "{code}");
    }
}

#[test]
fn abi_version_is_the_soname_version() {
    // build.rs gives the shared library the SONAME libbatchnorm_capi.so.<BN_ABI_VERSION>
    // (checked on the built library by .ci/capi.sh with readelf).
    let d = defines(&header_text());
    assert_eq!(d["BN_ABI_VERSION"], env!("BN_CAPI_ABI_VERSION"));
    let header = header_text();
    let soname = format!("libbatchnorm_capi.so.{}", env!("BN_CAPI_ABI_VERSION"));
    assert!(header.contains(&soname), "the header names {soname}");
    // bn_train_forward's limit with saved == NULL in the no_std build.
    let limit = format!("at most {}", batchnorm_capi::NO_STD_SCRATCH_CHANNELS);
    assert!(header.contains(&limit), "the header says `{limit}`");
}

#[test]
fn version_macros_match_the_package() {
    let d = defines(&header_text());
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(d["BN_VERSION_STRING"], format!("\"{v}\""));
    let parts: Vec<&str> = v.split(['.', '-', '+']).collect();
    assert_eq!(d["BN_VERSION_MAJOR"], parts[0]);
    assert_eq!(d["BN_VERSION_MINOR"], parts[1]);
    assert_eq!(d["BN_VERSION_PATCH"], parts[2]);
    assert_eq!(batchnorm_capi::VERSION.to_str().unwrap(), v);
    let n: u32 = parts[0].parse::<u32>().unwrap() * 10000
        + parts[1].parse::<u32>().unwrap() * 100
        + parts[2].parse::<u32>().unwrap();
    assert_eq!(batchnorm_capi::bn_version_number(), n);
    // The C API follows the batchnorm crate's version.
    let root = std::fs::read_to_string(support::capi_dir().join("../Cargo.toml")).unwrap();
    let pkg = &root[root.find("[package]").expect("root [package]")..];
    let line = pkg
        .lines()
        .find(|l| l.trim_start().starts_with("version"))
        .expect("root package version");
    assert!(
        line.contains(&format!("\"{v}\"")),
        "batchnorm is `{line}`, batchnorm-capi is {v}: keep them equal (and the header's BN_VERSION_*)"
    );
}

/// The `bn_*` functions `nm` reports as defined and global in `lib` (`-D` for the shared
/// library's dynamic symbols).
fn exported(args: &[&str], lib: &std::path::Path) -> Vec<String> {
    let out = support::run(Command::new("nm").args(args).arg(lib));
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().rev();
            let (name, kind) = (f.next()?, f.next()?);
            (kind == "T" && name.starts_with("bn_")).then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn libraries_export_exactly_the_header_functions() {
    if let Some(why) = support::not_native() {
        eprintln!("skipped: nm reads native libraries only ({why})");
        return;
    }
    let header = parse_header(&header_text());
    let want: Vec<String> = header.functions.keys().cloned().collect();
    let a = support::lib("a");
    assert_eq!(
        exported(&["-g", "--defined-only"], &a),
        want,
        "{}",
        a.display()
    );
    let so = support::lib("so");
    assert_eq!(
        exported(&["-D", "--defined-only"], &so),
        want,
        "{}",
        so.display()
    );
}

#[test]
fn the_parsers_see_what_they_should() {
    let h = parse_header(
        "#define X 1\n/* c */ typedef enum e { A = 0, B = 2, E_MAX_ENUM = 0x7fffffff } e;\n\
         typedef struct s { const float *p; size_t n; } s;\n\
         #ifdef __cplusplus\nextern \"C\" {\n#endif\nint f(const float* x, size_t n);\nvoid g(void);\n",
    );
    assert_eq!(h.enums["e"], vec![("A".into(), 0), ("B".into(), 2)]);
    assert_eq!(
        h.structs["s"].items,
        vec![
            ("p".into(), "const float*".into()),
            ("n".into(), "size_t".into())
        ]
    );
    assert_eq!(h.functions["f"].items.len(), 2);
    assert_eq!(h.functions["g"].items, vec![]);
    assert_eq!(h.functions["g"].ret, "void");
    let r = parse_rust(&["#[unsafe(no_mangle)]\npub unsafe extern \"C\" fn f(\n    x: *const f32,\n    n: usize,\n) -> c_int {\n}\n#[repr(C)]\npub struct BnS {\n    pub p: *const f32,\n    pub n: usize,\n}\n".into()]);
    assert_eq!(r.functions["f"], h.functions["f"]);
    assert_eq!(r.structs["bn_s"], h.structs["s"]);
}
