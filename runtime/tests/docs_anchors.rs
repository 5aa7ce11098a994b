//! The guide's line anchors, checked against the code: a link whose text is one backticked
//! name and whose target is a Rust file with a line range,
//! [`Registered::poll_io`](../runtime/src/net/registered.rs#L235-L270), must cover exactly the
//! item its name ends with: the range starts on the line that declares it (`fn poll_io`) and
//! ends on its closing brace, as rustfmt lays code out (the first later line that is the
//! declaration's indent and `}`). Code that moves leaves such links pointing at the wrong lines;
//! this test names each one, and `python3 scripts/anchors.py` rewrites them to where the items
//! are now.

use std::fs;
use std::path::{Path, PathBuf};

/// What may declare an item a link names.
const KEYWORDS: &[&str] = &[
    "fn",
    "struct",
    "enum",
    "trait",
    "const",
    "static",
    "type",
    "mod",
    "macro_rules!",
];

/// One anchored link: the page and its line, the name, the file and the range it gives.
#[derive(Debug)]
struct Anchor {
    page: String,
    line: usize,
    name: String,
    target: PathBuf,
    start: usize,
    end: usize,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ sits in the workspace")
        .to_path_buf()
}

/// The anchored links of `text`, a page of `docs/`.
fn anchors(page: &str, text: &str) -> Vec<Anchor> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("[`") {
            rest = &rest[at + 2..];
            let Some(anchor) = parse_anchor(rest) else {
                continue;
            };
            let (name, target, start, end) = anchor;
            found.push(Anchor {
                page: page.to_string(),
                line: number + 1,
                name,
                target: root().join("docs").join(target),
                start,
                end,
            });
        }
    }
    found
}

/// `Name`](path.rs#La-Lb) at the start of `rest` (after its "[`"), if that is what it is.
fn parse_anchor(rest: &str) -> Option<(String, String, usize, usize)> {
    let (name, after) = rest.split_once("`](")?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let (link, _) = after.split_once(')')?;
    let (target, fragment) = link.split_once("#L")?;
    if !target.ends_with(".rs") {
        return None;
    }
    let (start, end) = match fragment.split_once("-L") {
        Some((start, end)) => (start.parse().ok()?, end.parse().ok()?),
        None => {
            let line = fragment.parse().ok()?;
            (line, line)
        }
    };
    Some((name.to_string(), target.to_string(), start, end))
}

/// Whether `line` declares `item`: optional `pub(..)`, qualifiers, a keyword, then the name.
fn declares(line: &str, item: &str) -> bool {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.peek() {
        let qualifier = word.starts_with("pub")
            || ["const", "async", "unsafe", "extern", "\"C\""].contains(word);
        if qualifier && !KEYWORDS.contains(word) || (*word == "const" && is_fn_next(&words)) {
            words.next();
        } else {
            break;
        }
    }
    let Some(keyword) = words.next() else {
        return false;
    };
    let Some(name) = words.next() else {
        return false;
    };
    let name = name
        .split(['(', '<', ':', ';', '{', ' '])
        .next()
        .unwrap_or("");
    KEYWORDS.contains(&keyword) && name == item
}

/// Whether the word after a `const` is `fn` (a `const fn`, not a `const` item).
fn is_fn_next<'a>(words: &std::iter::Peekable<impl Iterator<Item = &'a str> + Clone>) -> bool {
    words.clone().nth(1) == Some("fn")
}

/// The (start, end) lines, from 1, of every item called `item` in `source`.
fn items(source: &str, item: &str) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !declares(line, item) {
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut end = i;
        if !line.trim_end().ends_with(';') {
            let closing = format!("{indent}}}");
            if let Some(j) = (i + 1..lines.len()).find(|&j| {
                let l = lines[j].trim_end();
                l == closing || l == format!("{closing};") || l == format!("{closing},")
            }) {
                end = j;
            }
        }
        found.push((i + 1, end + 1));
    }
    found
}

#[test]
fn every_line_anchor_of_the_guide_covers_the_item_it_names() {
    let root = root();
    let mut anchors_seen = 0;
    let mut stale = Vec::new();
    let mut pages: Vec<_> = fs::read_dir(root.join("docs"))
        .expect("list docs/")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    for page in pages {
        let text = fs::read_to_string(&page).expect("read a page");
        let name = page.file_name().unwrap().to_string_lossy().to_string();
        for anchor in anchors(&name, &text) {
            anchors_seen += 1;
            let item = anchor.name.rsplit("::").next().unwrap_or(&anchor.name);
            let Ok(source) = fs::read_to_string(&anchor.target) else {
                stale.push(format!(
                    "docs/{}:{}: `{}` links to {}, which does not exist",
                    anchor.page,
                    anchor.line,
                    anchor.name,
                    anchor.target.display()
                ));
                continue;
            };
            let candidates = items(&source, item);
            if !candidates.contains(&(anchor.start, anchor.end)) {
                stale.push(format!(
                    "docs/{}:{}: `{}` links to lines {}-{}, but `{item}` is at {:?} now",
                    anchor.page, anchor.line, anchor.name, anchor.start, anchor.end, candidates
                ));
            }
        }
    }
    assert!(
        anchors_seen >= 30,
        "found only {anchors_seen} anchors: the parser lost them"
    );
    assert!(
        stale.is_empty(),
        "line anchors that no longer cover what they name (run `python3 scripts/anchors.py` to \
         move them):\n{}",
        stale.join("\n")
    );
}

#[test]
fn an_anchor_is_read_and_a_moved_item_is_seen() {
    let source = "use x;\n\nimpl A {\n    pub(crate) fn poll_io(&self) {\n        body();\n    }\n\n    const fn f() {}\n}\n";
    assert_eq!(items(source, "poll_io"), [(4, 6)]);
    assert_eq!(items(source, "f"), [(8, 8)]);
    let page =
        "see [`A::poll_io`](../runtime/src/a.rs#L4-L6) and [`b`](../x.rs#L3), not [`c`](x.md)";
    let found = anchors("p.md", page);
    let got: Vec<_> = found
        .iter()
        .map(|a| (a.name.as_str(), a.start, a.end))
        .collect();
    assert_eq!(got, [("A::poll_io", 4, 6), ("b", 3, 3)]);
    // One line off is stale.
    assert!(!items(source, "poll_io").contains(&(5, 6)));
}
