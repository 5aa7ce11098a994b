//! The guide, checked against the code: every name it puts in backticks as nbio code must
//! exist, and every chapter must lead to the next. A rename or a move that leaves the prose
//! behind fails here, naming the page and the line.
//!
//! What is read: `docs/*.md` and the top-level `README.md`, each backticked span outside fenced
//! code blocks (between lines that start with three backticks: those are compiled as doctests
//! of the `demo` package already). A span may run over a line break, as markdown allows; it
//! never crosses a blank line.
//!
//! What a span is checked as, by its shape:
//!
//! - **A file**, a span ending in `.rs` or `.sh` made only of path characters
//!   (`runtime/src/executor/poll.rs`, `task/raw.rs`, `poll.rs`, `scripts/soak.sh`). It exists
//!   if it names a file relative to the repository's root, to `runtime/` or to `runtime/src/`,
//!   or if some file of the workspace has a path ending in `/` and the span (the short forms the
//!   prose uses once a chapter has said where it is: `current_thread/mod.rs`, `wait_graph.rs`).
//! - **A directory**, a span of path characters ending in `/` (`executor/current_thread/`,
//!   `tests/tests/`), resolved the same way.
//! - **A path**, `a::b` and longer (`CurrentThread::turn`, `nbio::time::sleep`,
//!   `task::raw::allocate`), after taking off a `#[…]` around it, a call's arguments and a
//!   `.await` after it (`Builder::seed(N)`, `#[nbio::test]`), and expanding a last `{a, b}`. A
//!   leading `nbio::` or `crate::` is dropped. Each lowercase segment before the first type
//!   must be a module (`mod name`). The first CamelCase segment must be a type (`struct`,
//!   `enum`, `trait`, `type`, `union`), and what follows it an item (a `fn`, `const`, `static`,
//!   enum variant, struct field, `mod`, macro or associated type) declared in a file that
//!   declares that type or has an `impl` naming it; an item a file gets by invoking one of the
//!   workspace's macros counts as declared there. A path with no CamelCase segment is modules
//!   and then any item (`context::spend_budget`). Paths inside the arguments are not read.
//! - **A type**, a single CamelCase identifier with a lowercase letter in it (`RunQueue`,
//!   `Seat`), or one with generic arguments (`Registered<T>`, whose head is checked). It must be
//!   declared as a type or an enum variant.
//!
//! Where declarations are looked for: every `.rs` file of the workspace outside `target/`
//! (`runtime/src`, `runtime/macros`, the runtime's tests, examples and benches, `demo/src`,
//! `tests/`). A declaration is a line of code, not of a comment: `fn name`, `struct Name`,
//! `mod name` and so on, an enum's variants and a struct's fields read from its body as rustfmt
//! lays it out. A name is found if such a declaration of it exists; the check does not resolve
//! imports or visibility.
//!
//! What is skipped: spans with spaces or other punctuation (expressions, commands, Python),
//! lowercase single words (syscalls, Python, locals: too many are not nbio's), ALL-CAPS names
//! (errno values, flags), URLs, paths under what the build makes ([`GENERATED`]: `target/`),
//! paths of std and other crates ([`EXTERNAL_PATHS`]), and CamelCase names of std and other
//! crates ([`EXTERNAL_NAMES`]), which pass whether or not nbio declares a name like them. A
//! path whose first type nbio declares is always checked as nbio's.
//!
//! Beside the names: every relative link of those pages must point at a file that exists
//! (anchors are not checked), and each numbered chapter (`01-….md` to `11-….md`) must end with
//! a link to the next one, the last with a link back to the index, `docs/README.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Paths that belong to std or another crate, by their leading segments. A path starting with
/// one of these is not nbio's and is not checked.
const EXTERNAL_PATHS: &[&str] = &[
    "std",
    "core",
    "alloc",
    "tokio",
    "futures",
    "futures_lite",
    "smol",
    "async_io",
    "polling",
    "rustix",
    "libc",
    // The hyper crate's runtime traits; nbio's adapters are `nbio::hyper::…`.
    "hyper::rt",
    // hyper's HTTP/2 builder, in chapter 13's sketch of a server.
    "http2",
    // The loom crate's executor, which the loom models use; nbio's `loom` module is its shim.
    "loom::future",
    // smol's `blocking` crate, set beside nbio's pool in chapter 9.
    "blocking::unblock",
    // std's `io::ErrorKind`, named without its `std::`.
    "io::ErrorKind",
];

/// CamelCase names of std, of other crates and of the article's Python that the guide uses as
/// theirs. A name here passes even if nbio declares nothing of that name; one nbio declares
/// (`Pending` is also a variant of the journal's events) is found there first either way.
const EXTERNAL_NAMES: &[&str] = &[
    // std: types and traits.
    "Arc",
    "BTreeMap",
    "Cell",
    "Debug",
    "Drop",
    "Future",
    "HashMap",
    "Instant",
    "Rc",
    "RefCell",
    "Result",
    "Send",
    "SocketAddr",
    "TcpStream",
    "ToSocketAddrs",
    "VecDeque",
    "Waker",
    // std: variants (`Poll`, `Option`, `Result`, `io::ErrorKind`, `Ordering`).
    "Poll",
    "Pending",
    "Ready",
    "None",
    "Ok",
    "Err",
    "ConnectionReset",
    "ConnectionRefused",
    "Interrupted",
    "InvalidInput",
    "NotFound",
    "WouldBlock",
    "Acquire",
    "SeqCst",
    // polling, the crate under the reactor.
    "Poller",
    "PollMode",
    // futures-io and futures.
    "AsyncRead",
    "AsyncSeek",
    "AsyncWrite",
    "AtomicWaker",
    "FuturesUnordered",
    "Stream",
    // hyper's stream traits, which `nbio::hyper::Io` implements.
    "Read",
    "Write",
    // tokio, tokio-util, hyper-util, smol and smol-hyper, as the ecosystem chapter and the
    // performance page compare them.
    "LinesCodec",
    "TokioIo",
    "TokioTimer",
    "LocalExecutor",
    "SmolTimer",
    "FuturesIo",
    // The article's Python.
    "AssertionError",
    "KeyError",
    "NameError",
    "StopIteration",
];

/// Directories the build makes, which a checkout does not have: paths under them are not
/// checked.
const GENERATED: &[&str] = &["target/"];

/// How many of a chapter's last non-empty lines may hold its link to the next chapter.
const LAST_LINES: usize = 3;

/// The repository's root: the workspace above `runtime/`.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ sits in the workspace")
        .to_path_buf()
}

/// The pages the check reads: the guide's and the top-level README, as paths from the root.
fn pages(root: &Path) -> Vec<String> {
    let mut pages: Vec<String> = fs::read_dir(root.join("docs"))
        .expect("list docs/")
        .map(|entry| entry.expect("a directory entry").file_name())
        .filter_map(|name| name.to_str().map(str::to_string))
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    pages.push("README.md".to_string());
    pages
}

/// Every file and directory under `dir`, as paths from `root` with `/`, skipping `target/` and
/// hidden directories.
fn walk(root: &Path, dir: &Path, files: &mut Vec<String>, dirs: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("list a directory") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        let relative = path
            .strip_prefix(root)
            .expect("under the root")
            .to_str()
            .expect("a UTF-8 path")
            .replace('\\', "/");
        if path.is_dir() {
            if name.starts_with('.') || (dir == root && name == "target") {
                continue;
            }
            dirs.push(relative);
            walk(root, &path, files, dirs);
        } else {
            files.push(relative);
        }
    }
}

/// A backticked span: the line of its opening backtick (from 1) and its text, with any line
/// break inside it made a space.
#[derive(Debug, PartialEq)]
struct Span {
    line: usize,
    text: String,
}

/// The lines of `markdown` outside fenced code blocks, grouped into paragraphs (runs of
/// non-blank lines), each line with its number.
fn paragraphs(markdown: &str) -> Vec<Vec<(usize, &str)>> {
    let mut paragraphs = Vec::new();
    let mut current = Vec::new();
    let mut fenced = false;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            paragraphs.push(std::mem::take(&mut current));
            continue;
        }
        if fenced || line.trim().is_empty() {
            paragraphs.push(std::mem::take(&mut current));
            continue;
        }
        current.push((index + 1, line));
    }
    paragraphs.push(current);
    paragraphs.retain(|paragraph| !paragraph.is_empty());
    paragraphs
}

/// The backticked spans of `markdown` outside fenced code. A run of n backticks opens a span
/// that the next run of exactly n closes; an opening run with no closing one in its paragraph
/// is a literal backtick.
fn code_spans(markdown: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    for paragraph in paragraphs(markdown) {
        // The paragraph as one text, and where each of its lines starts in it.
        let mut text = String::new();
        let mut starts = Vec::new();
        for (number, line) in &paragraph {
            starts.push((text.len(), *number));
            text.push_str(line);
            text.push('\n');
        }
        let line_at = |offset: usize| {
            starts
                .iter()
                .rev()
                .find(|(start, _)| *start <= offset)
                .map_or(0, |(_, number)| *number)
        };
        let bytes = text.as_bytes();
        let run_at = |at: usize| bytes[at..].iter().take_while(|b| **b == b'`').count();
        let mut at = 0;
        while at < bytes.len() {
            if bytes[at] != b'`' {
                at += 1;
                continue;
            }
            let open = run_at(at);
            let body = at + open;
            let mut close = body;
            let mut found = None;
            while close < bytes.len() {
                if bytes[close] == b'`' {
                    let run = run_at(close);
                    if run == open {
                        found = Some(close);
                        break;
                    }
                    close += run;
                } else {
                    close += 1;
                }
            }
            match found {
                Some(end) => {
                    let inner = text[body..end].replace('\n', " ");
                    spans.push(Span {
                        line: line_at(at),
                        text: inner.trim().to_string(),
                    });
                    at = end + open;
                }
                None => at = body,
            }
        }
    }
    spans
}

/// What a span says exists in the code, by its shape.
#[derive(Debug, PartialEq)]
enum Claim {
    File(String),
    Dir(String),
    Path(Vec<String>),
    Type(String),
}

fn is_ident(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// CamelCase: an identifier that starts with a capital and has a lowercase letter (so not an
/// ALL-CAPS constant such as `EAGAIN` or `COMPLETE`).
fn is_camel(word: &str) -> bool {
    is_ident(word)
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word.chars().any(|c| c.is_ascii_lowercase())
}

fn is_path_text(span: &str) -> bool {
    !span.is_empty()
        && span
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && span.chars().any(|c| c.is_ascii_alphabetic())
}

/// Takes a call's arguments off the end of `span`: `seed(N)` is `seed`. Returns `span` as it
/// is if it does not end in a balanced group.
fn without_call(span: &str) -> &str {
    if !span.ends_with(')') {
        return span;
    }
    let mut depth = 0;
    for (at, c) in span.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return &span[..at];
                }
            }
            _ => {}
        }
    }
    span
}

/// What `span` claims, if it has the shape of a name the check knows.
fn claims(span: &str) -> Vec<Claim> {
    if span.contains("://") || GENERATED.iter().any(|dir| span.starts_with(dir)) {
        return Vec::new();
    }
    if is_path_text(span) && (span.ends_with(".rs") || span.ends_with(".sh")) {
        return vec![Claim::File(span.to_string())];
    }
    if is_path_text(span) && span.ends_with('/') && !span.starts_with('/') {
        return vec![Claim::Dir(span.to_string())];
    }
    let mut text = span;
    if let Some(inner) = text.strip_prefix("#[").and_then(|t| t.strip_suffix(']')) {
        text = inner;
    }
    text = text.strip_suffix(".await").unwrap_or(text);
    text = without_call(text);
    text = text.strip_suffix('!').unwrap_or(text);
    if text.contains("::") {
        // A last `{a, b}` stands for one path each.
        let (stem, tails) = match text.split_once("::{") {
            Some((stem, rest)) => match rest.strip_suffix('}') {
                Some(list) => (stem, list.split(',').map(str::trim).collect::<Vec<_>>()),
                None => return Vec::new(),
            },
            None => (text, vec![""]),
        };
        let mut out = Vec::new();
        for tail in tails {
            let mut segments: Vec<String> = stem.split("::").map(str::to_string).collect();
            if !tail.is_empty() {
                segments.push(tail.to_string());
            }
            if !segments.iter().all(|segment| is_ident(segment)) {
                return Vec::new();
            }
            out.push(Claim::Path(segments));
        }
        return out;
    }
    let head = match text.split_once('<') {
        Some((head, rest)) if rest.ends_with('>') => head,
        Some(_) => return Vec::new(),
        None => text,
    };
    if is_camel(head) {
        return vec![Claim::Type(head.to_string())];
    }
    Vec::new()
}

/// What one source file declares.
#[derive(Default)]
struct FileDecls {
    /// Types declared here (`struct`, `enum`, `trait`, `type`, `union`).
    types: BTreeSet<String>,
    /// Types declared here or named on an `impl` line here.
    types_here: BTreeSet<String>,
    /// Items declared here: functions, constants, statics, modules, macros, associated types,
    /// variants and fields.
    items: BTreeSet<String>,
    /// Modules declared here.
    mods: BTreeSet<String>,
    /// Enum variants declared here.
    variants: BTreeSet<String>,
    /// The workspace macros this file invokes.
    invokes: BTreeSet<String>,
    /// For each `macro_rules!` declared here, the items its body declares.
    macros: BTreeMap<String, BTreeSet<String>>,
}

/// The identifier that follows `keyword` (as a whole word, then whitespace) on `line`, each
/// time it does.
fn declared_after<'a>(line: &'a str, keyword: &str) -> Vec<&'a str> {
    let mut names = Vec::new();
    for (at, _) in line.match_indices(keyword) {
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '\'') {
            continue; // part of a longer word, or a lifetime such as `'static`
        }
        let rest = &line[at + keyword.len()..];
        if !rest.starts_with(char::is_whitespace) {
            continue;
        }
        let rest = rest.trim_start();
        let rest = rest.strip_prefix("r#").unwrap_or(rest);
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 && is_ident(&rest[..end]) {
            names.push(&rest[..end]);
        }
    }
    names
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The first identifier of a line in a struct's or enum's body, and whether a `:` follows it
/// (a field) rather than `,`, `(`, `{`, `=` or nothing (a variant).
fn body_member(trimmed: &str) -> Option<(&str, bool)> {
    let mut rest = trimmed;
    if let Some(after) = rest.strip_prefix("pub") {
        rest = after.trim_start();
        if rest.starts_with('(') {
            rest = rest[rest.find(')')? + 1..].trim_start();
        }
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..end];
    if !is_ident(name) {
        return None;
    }
    let after = rest[end..].trim_start();
    if after.starts_with(':') && !after.starts_with("::") {
        Some((name, true))
    } else if after.is_empty() || after.starts_with([',', '(', '{', '=']) {
        Some((name, false))
    } else {
        None
    }
}

/// Reads the declarations of one source file.
fn declarations(source: &str) -> FileDecls {
    let mut decls = FileDecls::default();
    // The struct or enum whose body is open: its indentation, and whether it is an enum.
    let mut body: Option<(usize, bool)> = None;
    // A struct or enum declared on a line not yet followed by its opening brace.
    let mut pending_body: Option<(usize, bool)> = None;
    // The macro_rules! whose body is open, with its indentation.
    let mut macro_body: Option<(String, usize)> = None;
    for line in source.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("//") || trimmed.is_empty() {
            continue;
        }
        let indent = indent_of(line);
        if macro_body
            .as_ref()
            .is_some_and(|(_, at)| indent == *at && trimmed.starts_with('}'))
        {
            macro_body = None;
        }
        if let Some((at, is_enum)) = body {
            if indent == at && trimmed.starts_with('}') {
                body = None;
            } else if indent == at + 4 && !trimmed.starts_with('#') {
                if let Some((name, field)) = body_member(trimmed) {
                    if field != is_enum {
                        decls.items.insert(name.to_string());
                        if is_enum {
                            decls.variants.insert(name.to_string());
                        }
                    }
                }
            }
        }
        let mut names = Vec::new();
        for keyword in ["fn", "const", "static", "mod", "type"] {
            for name in declared_after(trimmed, keyword) {
                if keyword == "mod" {
                    decls.mods.insert(name.to_string());
                }
                if keyword == "const" && name == "fn" {
                    continue;
                }
                names.push(name.to_string());
            }
        }
        for keyword in ["struct", "enum", "trait", "type", "union"] {
            for name in declared_after(trimmed, keyword) {
                decls.types.insert(name.to_string());
                decls.types_here.insert(name.to_string());
                names.push(name.to_string());
                if keyword == "struct" || keyword == "enum" || keyword == "union" {
                    pending_body = Some((indent, keyword == "enum"));
                }
            }
        }
        if let Some(name) = trimmed.strip_prefix("macro_rules!") {
            let name = name.trim().trim_end_matches('{').trim();
            names.push(name.to_string());
            decls.macros.entry(name.to_string()).or_default();
            macro_body = Some((name.to_string(), indent));
        }
        if trimmed.starts_with("impl")
            || trimmed.starts_with("unsafe impl")
            || trimmed.starts_with("pub impl")
        {
            for word in trimmed.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if is_camel(word) {
                    decls.types_here.insert(word.to_string());
                }
            }
        }
        // A macro invocation: `name!(…)`, `name! {…}`, `name![…]`.
        for (at, _) in trimmed.match_indices('!') {
            let before = &trimmed[..at];
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |at| at + 1);
            let name = &before[start..];
            let after = trimmed[at + 1..].trim_start();
            if is_ident(name) && after.starts_with(['(', '{', '[']) {
                decls.invokes.insert(name.to_string());
            }
        }
        if let Some((name, _)) = &macro_body {
            let inside = decls.macros.get_mut(name).expect("the macro's entry");
            for declared in &names {
                if declared != name {
                    inside.insert(declared.clone());
                }
            }
        }
        decls.items.extend(names);
        if let Some((at, is_enum)) = pending_body {
            if trimmed.ends_with('{') {
                body = Some((at, is_enum));
                pending_body = None;
            } else if trimmed.ends_with(';') || trimmed.ends_with('}') {
                pending_body = None;
            }
        }
    }
    decls
}

/// What the workspace has: its files and directories, and what each source file declares.
struct Code {
    files: Vec<String>,
    dirs: Vec<String>,
    decls: Vec<(String, FileDecls)>,
}

impl Code {
    fn read(root: &Path) -> Code {
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        walk(root, root, &mut files, &mut dirs);
        let mut decls: Vec<(String, FileDecls)> = files
            .iter()
            .filter(|file| file.ends_with(".rs"))
            .map(|file| {
                let source = fs::read_to_string(root.join(file)).expect("read a source file");
                (file.clone(), declarations(&source))
            })
            .collect();
        // What a file gets by invoking a macro of the workspace is declared there too.
        let macros: BTreeMap<String, BTreeSet<String>> = decls
            .iter()
            .flat_map(|(_, file)| file.macros.clone())
            .collect();
        for (_, file) in &mut decls {
            let invoked: Vec<String> = file
                .invokes
                .iter()
                .filter_map(|name| macros.get(name))
                .flatten()
                .cloned()
                .collect();
            file.items.extend(invoked);
        }
        Code { files, dirs, decls }
    }

    fn has_path(&self, wanted: &str, list: &[String]) -> bool {
        let wanted = wanted.trim_end_matches('/');
        let suffix = format!("/{wanted}");
        ["", "runtime/", "runtime/src/"]
            .iter()
            .any(|base| list.iter().any(|path| *path == format!("{base}{wanted}")))
            || list.iter().any(|path| path.ends_with(&suffix))
    }

    fn is_type(&self, name: &str) -> bool {
        self.decls.iter().any(|(_, file)| file.types.contains(name))
    }

    fn is_variant(&self, name: &str) -> bool {
        self.decls
            .iter()
            .any(|(_, file)| file.variants.contains(name))
    }

    fn is_mod(&self, name: &str) -> bool {
        self.decls.iter().any(|(_, file)| file.mods.contains(name))
    }

    fn is_item(&self, name: &str) -> bool {
        self.decls
            .iter()
            .any(|(_, file)| file.items.contains(name) || file.types.contains(name))
    }

    /// Whether `item` is declared in a file that declares `ty` or implements something for it.
    fn is_item_of(&self, ty: &str, item: &str) -> bool {
        self.decls.iter().any(|(_, file)| {
            file.types_here.contains(ty) && (file.items.contains(item) || file.types.contains(item))
        })
    }

    /// What is wrong with `claim`, if anything.
    fn problem(&self, claim: &Claim) -> Option<String> {
        match claim {
            Claim::File(path) => {
                (!self.has_path(path, &self.files)).then(|| "no such file".to_string())
            }
            Claim::Dir(path) => {
                (!self.has_path(path, &self.dirs)).then(|| "no such directory".to_string())
            }
            Claim::Type(name) => (!self.is_type(name)
                && !self.is_variant(name)
                && !EXTERNAL_NAMES.contains(&name.as_str()))
            .then(|| {
                "no type or variant of that name, and it is not in the list of external names"
                    .to_string()
            }),
            Claim::Path(segments) => self.path_problem(segments),
        }
    }

    fn path_problem(&self, segments: &[String]) -> Option<String> {
        let joined = segments.join("::");
        if EXTERNAL_PATHS
            .iter()
            .any(|prefix| joined == *prefix || joined.starts_with(&format!("{prefix}::")))
        {
            return None;
        }
        let segments = match segments.first().map(String::as_str) {
            Some("nbio" | "crate") => &segments[1..],
            _ => segments,
        };
        let Some(first_type) = segments.iter().position(|segment| is_camel(segment)) else {
            // Modules, then any item.
            let (last, mods) = segments.split_last()?;
            if let Some(module) = mods.iter().find(|module| !self.is_mod(module)) {
                return Some(format!("no module `{module}`"));
            }
            return (!self.is_item(last)).then(|| format!("no item `{last}`"));
        };
        if let Some(module) = segments[..first_type]
            .iter()
            .find(|module| !self.is_mod(module))
        {
            return Some(format!("no module `{module}`"));
        }
        let ty = &segments[first_type];
        let rest = &segments[first_type + 1..];
        if !self.is_type(ty) {
            if rest.is_empty() && self.is_variant(ty) {
                return None;
            }
            if first_type == 0 && EXTERNAL_NAMES.contains(&ty.as_str()) {
                return None;
            }
            return Some(format!("no type `{ty}`"));
        }
        let (item, deeper) = rest.split_first()?;
        if !self.is_item_of(ty, item) {
            return Some(format!(
                "no `{item}` declared where `{ty}` is declared or implemented"
            ));
        }
        deeper
            .iter()
            .find(|item| !self.is_item(item))
            .map(|item| format!("no item `{item}`"))
    }

    /// The stale names of one page: each as its line and a message.
    fn stale_names(&self, markdown: &str) -> Vec<(usize, String)> {
        let mut stale = Vec::new();
        for span in code_spans(markdown) {
            for claim in claims(&span.text) {
                if let Some(problem) = self.problem(&claim) {
                    stale.push((span.line, format!("`{}`: {problem}", span.text)));
                }
            }
        }
        stale
    }
}

/// The targets of the relative links of `markdown` outside fenced code, each with its line:
/// `[text](target)` and `![alt](target)`, without an anchor, skipping URLs and bare anchors.
fn relative_links(markdown: &str) -> Vec<(usize, String)> {
    let mut links = Vec::new();
    for paragraph in paragraphs(markdown) {
        for (number, line) in paragraph {
            for (at, _) in line.match_indices("](") {
                let rest = &line[at + 2..];
                let Some(end) = rest.find(')') else { continue };
                let target = rest[..end].split('#').next().unwrap_or("");
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                links.push((number, target.to_string()));
            }
        }
    }
    links
}

/// Whether one of the last [`LAST_LINES`] non-empty lines of `chapter` links to `next`.
fn links_at_end(chapter: &str, next: &str) -> bool {
    let target = format!("]({next})");
    let anchored = format!("]({next}#");
    chapter
        .lines()
        .rev()
        .filter(|line| !line.trim().is_empty())
        .take(LAST_LINES)
        .any(|line| line.contains(&target) || line.contains(&anchored))
}

/// The numbered chapters of the guide, in order: `docs/01-….md` and on.
fn chapters(root: &Path) -> Vec<String> {
    pages(root)
        .into_iter()
        .filter_map(|page| page.strip_prefix("docs/").map(str::to_string))
        .filter(|name| {
            let bytes = name.as_bytes();
            bytes.len() > 3
                && bytes[0].is_ascii_digit()
                && bytes[1].is_ascii_digit()
                && bytes[2] == b'-'
        })
        .collect()
}

#[test]
fn every_name_the_guide_gives_exists_in_the_code() {
    let root = root();
    let code = Code::read(&root);
    let mut stale = Vec::new();
    for page in pages(&root) {
        let markdown = fs::read_to_string(root.join(&page)).expect("read a page");
        for (line, problem) in code.stale_names(&markdown) {
            stale.push(format!("{page}:{line}: {problem}"));
        }
    }
    assert!(
        stale.is_empty(),
        "these names of the guide are not in the code (renamed, moved or gone? a name of \
         another crate goes in EXTERNAL_NAMES or EXTERNAL_PATHS):\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_relative_link_of_the_guide_points_at_a_file() {
    let root = root();
    let mut broken = Vec::new();
    for page in pages(&root) {
        let markdown = fs::read_to_string(root.join(&page)).expect("read a page");
        let dir = root
            .join(&page)
            .parent()
            .expect("a page's directory")
            .to_path_buf();
        for (line, target) in relative_links(&markdown) {
            if !dir.join(&target).exists() {
                broken.push(format!("{page}:{line}: ({target})"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "these links point at nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_chapter_links_to_the_next() {
    let root = root();
    let chapters = chapters(&root);
    assert!(chapters.len() >= 2, "the guide's chapters: {chapters:?}");
    let mut missing = Vec::new();
    for (index, chapter) in chapters.iter().enumerate() {
        let next = chapters.get(index + 1).map_or("README.md", String::as_str);
        let text = fs::read_to_string(root.join("docs").join(chapter)).expect("read a chapter");
        if !links_at_end(&text, next) {
            missing.push(format!(
                "docs/{chapter}:{}: no link to {next} in its last {LAST_LINES} lines",
                text.lines().count()
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "each chapter ends by pointing at the next, the last at the index:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_checker_catches_a_name_that_is_not_in_the_code() {
    let code = Code::read(&root());
    let page = "\
# A page

The loop sleeps in `Reactor::wait` (`runtime/src/reactor/mod.rs`), then runs `RunQueue`
through `current_thread/mod.rs`; `nbio::time::sleep` and `#[nbio::test]` are real.

Stale: `NoSuchType::nothing` in `runtime/src/no/such.rs`, and `Reactor::no_such_method`,
`nbio::no_such_module::sleep`, and a type named over a line break, `NoSuchThing<
T>`.

Skipped: `std::fs::NoSuchThing`, `Waker`, `EAGAIN`, `send_data(...)`, `https://example.org/a.rs`.

```rust
let in_a_fence = NoSuchType::nothing();
```

An unmatched ` backtick is literal.
";
    let stale = code.stale_names(page);
    let lines: Vec<usize> = stale.iter().map(|(line, _)| *line).collect();
    let messages: Vec<&str> = stale.iter().map(|(_, message)| message.as_str()).collect();
    assert_eq!(lines, [6, 6, 6, 7, 7], "{stale:#?}");
    assert!(messages[0].starts_with("`NoSuchType::nothing`: no type `NoSuchType`"));
    assert!(messages[1].starts_with("`runtime/src/no/such.rs`: no such file"));
    assert!(messages[2].starts_with("`Reactor::no_such_method`: no `no_such_method` declared"));
    assert!(messages[3].starts_with("`nbio::no_such_module::sleep`: no module"));
    assert!(messages[4].starts_with("`NoSuchThing< T>`: no type or variant"));
}

#[test]
fn the_spans_and_their_shapes() {
    assert_eq!(
        code_spans("a `x`\n`y\nz` ``a ` b``\n\n`no\n\nclose`"),
        [
            Span {
                line: 1,
                text: "x".to_string()
            },
            Span {
                line: 2,
                text: "y z".to_string()
            },
            Span {
                line: 3,
                text: "a ` b".to_string()
            },
        ]
    );
    let path = |segments: &[&str]| Claim::Path(segments.iter().map(|s| s.to_string()).collect());
    assert_eq!(claims("Builder::seed(N)"), [path(&["Builder", "seed"])]);
    assert_eq!(claims("#[nbio::test(seed = 3)]"), [path(&["nbio", "test"])]);
    assert_eq!(
        claims("nbio::time::advance(d).await"),
        [path(&["nbio", "time", "advance"])]
    );
    assert_eq!(
        claims("nbio::hyper::{Io, Timer}"),
        [
            path(&["nbio", "hyper", "Io"]),
            path(&["nbio", "hyper", "Timer"])
        ]
    );
    assert_eq!(
        claims("Registered<T>"),
        [Claim::Type("Registered".to_string())]
    );
    assert_eq!(
        claims("task/raw.rs"),
        [Claim::File("task/raw.rs".to_string())]
    );
    assert_eq!(claims("sync/"), [Claim::Dir("sync/".to_string())]);
    for skipped in [
        "EAGAIN",
        "send",
        "Instant::now() >= deadline",
        "a b",
        "https://x.rs",
    ] {
        assert_eq!(claims(skipped), [], "{skipped}");
    }
}

#[test]
fn the_declarations_a_file_makes() {
    let decls = declarations(
        "\
pub(crate) enum Verdict {
    /// A doc line: Ignored { x: u8 },
    Cycle(Vec<u64>),
    #[allow(dead_code)]
    Deadlock,
    Wait { until: u64 },
}

pub struct Stats {
    pub would_block: u64,
    pub(crate) polls: u64,
}

impl Reactor {
    pub(crate) const fn count_wait(&self) {}
    // fn commented_out() {}
}

macro_rules! methods {
    ($ty:ty) => {
        impl $ty {
            pub async fn write_all(&self) {}
        }
    };
}
",
    );
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(decls.types, set(&["Stats", "Verdict"]));
    assert_eq!(decls.variants, set(&["Cycle", "Deadlock", "Wait"]));
    assert!(decls.types_here.contains("Reactor"));
    for item in ["would_block", "polls", "count_wait", "write_all", "methods"] {
        assert!(decls.items.contains(item), "{item}");
    }
    for not_an_item in ["Ignored", "x", "commented_out", "until"] {
        assert!(!decls.items.contains(not_an_item), "{not_an_item}");
    }
    assert_eq!(decls.macros["methods"], set(&["write_all"]));
}

#[test]
fn the_link_check_sees_a_chapter_that_stops() {
    assert!(links_at_end(
        "# 1. A\n\ntext\n\nNext: [2. B](02-b.md).\n\n",
        "02-b.md"
    ));
    assert!(!links_at_end(
        "# 1. A\n\nSee [2. B](02-b.md).\n\none\n\ntwo\n\nthree\n",
        "02-b.md"
    ));
    assert_eq!(
        relative_links("[a](b.md#c) [u](https://x) ![i](d.svg)\n```\n[no](e.md)\n```\n"),
        [(1, "b.md".to_string()), (1, "d.svg".to_string())]
    );
}
