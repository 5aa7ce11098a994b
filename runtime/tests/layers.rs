//! The layer diagram of docs/README.md, checked against the code: every `crate::` path in a
//! module of `runtime/src` must point at a layer that module may use.
//!
//! The rule the diagram draws: arrows point down. `net` and `time` reach the runtime only
//! through `context`; the task layer knows nothing above it; `diagnose` (the wait graph and the
//! stuck verdict) works on plain inputs and decides; the observer records what others tell it,
//! draws what `diagnose` found, and decides nothing; only the executor acts on a verdict. A new
//! `use crate::…` that points up fails here, naming the file and the line.

use std::fs;
use std::path::{Path, PathBuf};

/// Which layers each layer may name. `loom` (the primitives) is below everything.
const MAY_USE: &[(&str, &[&str])] = &[
    ("loom", &[]),
    ("task", &["loom"]),
    ("reactor", &["loom"]),
    ("diagnose", &["loom", "task"]),
    ("observe", &["loom", "task", "reactor", "diagnose"]),
    ("blocking", &["loom", "task", "observe"]),
    (
        "context",
        &["loom", "reactor", "diagnose", "observe", "task", "blocking"],
    ),
    ("time", &["loom", "context", "reactor"]),
    ("fs", &["loom", "context", "task"]),
    // `sim` is the seam inside a simulated host: bind, connect and lookups ask it.
    (
        "net",
        &["loom", "context", "reactor", "observe", "time", "sim"],
    ),
    ("sync", &["loom", "task", "context"]),
    ("io", &["loom", "context", "reactor", "net"]),
    ("signal", &["loom", "io"]),
    // Pipes and pidfds are registered like sockets; a wait without pidfds uses the pool.
    ("process", &["loom", "context", "reactor", "net", "task"]),
    (
        "executor",
        &[
            "loom", "task", "reactor", "diagnose", "observe", "context", "blocking",
            // The one spawn line: a task spawned inside a simulated host is the host's.
            "sim",
        ],
    ),
    // The simulator runs on the executor and the virtual clock. `net` and the executor's
    // spawn name it too (above): the one place the diagram has a loop, kept to the seam. It
    // files each host's tasks by id (`task`) and tells the observer which host each is on.
    ("sim", &["executor", "time", "context", "task", "observe"]),
    ("attributes", &["executor", "macros"]),
    // `select!` and `join!` (their `$crate::` paths resolve where they are used, not here).
    ("macros", &[]),
    // The adapters for hyper sit on top: streams, timers and spawn, nothing below them.
    ("hyper", &["net", "time", "executor"]),
];

/// What the observer may take from the layers it names: plain types, and what `diagnose`
/// offers for drawing (what a wait is, the cycles a dump marks), nothing that decides.
const OBSERVE_MAY_NAME: &[&str] = &[
    "crate::task::TaskId",
    "crate::reactor::Direction",
    "crate::diagnose::WaitOn",
    "crate::diagnose::doomed",
    "crate::diagnose::kind_of",
];

/// The names of a decision: `diagnose`'s verdict before a loop sleeps, and what it is asked.
/// Only `diagnose`, which makes it, and the executor, which acts on it, may name them (on a
/// line that names `diagnose`: other layers have verdicts of their own, such as a slow poll's).
const DECISIONS: &[&str] = &["verdict", "Verdict", "Quiet", "Reported", "TaskView"];

/// The public `nbio::task` namespace re-exports what the layers above make of tasks; those
/// `pub use` lines are names, not dependencies, and nothing else in the layer may use them.
const TASK_REEXPORTS: &[&str] = &[
    "pub use crate::executor::block_in_place;",
    "pub use crate::executor::join_set::JoinSet;",
    "pub use crate::executor::task_builder::Builder;",
    "pub use crate::diagnose::WaitOn;",
    "pub use crate::observe::{Dump, TaskInfo, TaskState};",
];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("list the source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to: `src/net/tcp.rs` is in `net`.
fn layer_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// The layers a line names with `crate::<layer>`, ignoring comments.
fn named_layers(line: &str) -> Vec<(String, String)> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // A macro's `$crate::` path is resolved where the macro is used: not this layer's.
        if rest[..at].ends_with('$') {
            rest = &rest[at + "crate::".len()..];
            continue;
        }
        let path: String = rest[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let layer = path["crate::".len()..]
            .split("::")
            .next()
            .unwrap_or("")
            .to_string();
        found.push((layer, path));
        rest = &rest[at + "crate::".len()..];
    }
    found
}

#[test]
fn every_crate_path_points_down_the_layer_diagram() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let Some(layer) = layer_of(&src, file) else {
            continue;
        };
        let Some((_, allowed)) = MAY_USE.iter().find(|(name, _)| *name == layer) else {
            continue; // lib.rs, and public facades that only re-export
        };
        let text = fs::read_to_string(file).expect("read a source file");
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if TASK_REEXPORTS.contains(&trimmed) && layer == "task" {
                continue;
            }
            for (target, path) in named_layers(line) {
                if target == layer || target.is_empty() {
                    continue;
                }
                let ok = allowed.contains(&target.as_str())
                    && (layer != "observe"
                        || target == "loom"
                        || OBSERVE_MAY_NAME.iter().any(|name| path.starts_with(name)));
                if !ok {
                    violations.push(format!(
                        "{}:{}: `{layer}` names `{path}`",
                        file.strip_prefix(&src).unwrap().display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "these lines point up (or sideways) the layer diagram of docs/README.md:\n{}",
        violations.join("\n")
    );
}

/// Whether `line` (code, not comment) names `word` as a whole word.
fn names_word(line: &str, word: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        let edge = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        edge(before) && edge(after)
    })
}

#[test]
fn only_the_executor_acts_on_a_verdict() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let layer = layer_of(&src, file).unwrap_or_default();
        if layer == "executor" || layer == "diagnose" {
            continue;
        }
        let text = fs::read_to_string(file).expect("read a source file");
        for (number, line) in text.lines().enumerate() {
            if !names_word(line, "diagnose") {
                continue;
            }
            for word in DECISIONS {
                if names_word(line, word) {
                    violations.push(format!(
                        "{}:{}: `{layer}` names `{word}`",
                        file.strip_prefix(&src).unwrap().display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "only diagnose decides whether a loop is stuck, and only the executor acts on it:\n{}",
        violations.join("\n")
    );
}

#[test]
fn a_macros_crate_path_is_named_where_the_macro_is_used() {
    assert!(named_layers("        $crate::__private::select_start($n)").is_empty());
    assert_eq!(named_layers("use crate::task::raw;").len(), 1);
}

#[test]
fn the_decision_check_sees_a_verdict_named_in_code_only() {
    assert!(names_word("    match diagnose::verdict(self) {", "verdict"));
    assert!(names_word(
        "    match diagnose::verdict(self) {",
        "diagnose"
    ));
    assert!(names_word("use crate::diagnose::Verdict;", "Verdict"));
    assert!(!names_word("// the Verdict of diagnose", "Verdict"));
    assert!(!names_word("let verdicts = Verdicts::new();", "Verdict"));
}

#[test]
fn the_checker_catches_a_path_that_points_up() {
    assert_eq!(
        named_layers("use crate::executor::Scheduler; // crate::net in a comment"),
        [(
            "executor".to_string(),
            "crate::executor::Scheduler".to_string()
        )]
    );
}
