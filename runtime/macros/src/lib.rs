//! `#[nbio::main]` and `#[nbio::test]`: an `async fn` run on an nbio runtime.
//!
//! Use them through the `nbio` crate (`#[nbio::main]`, `#[nbio::test]`), which re-exports them.
//! Both take the same arguments, separated by commas:
//!
//! - `worker_threads = N`: the multi-thread runtime with N workers (without it, the
//!   current-thread runtime);
//! - `seed = N`: poll ready tasks in the order drawn from this seed (`Builder::seed`);
//! - `virtual_time`: run on a virtual clock (`Builder::virtual_time`).
//!
//! `#[nbio::test]` runs each test under a seed: the one given, else `NBIO_SEED` from the
//! environment, else a fresh one; when the test fails, its output says `NBIO_SEED=<n> replays
//! this run`. Its runtime fails on a cycle of tasks waiting on each other
//! (`Builder::on_cycle(OnCycle::Panic)`): the test panics with the report of the cycle instead
//! of hanging. `#[nbio::main]` keeps the default, `OnCycle::Report`: it prints the report once
//! and goes on waiting, in case something nbio cannot see breaks the cycle. The arguments are parsed by hand, without `syn`: there are few, and a wrong one
//! gets a compile error that names it and lists the right ones.

use proc_macro::{Delimiter, Group, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs the `async fn` on an nbio runtime: `#[nbio::main] async fn main() { .. }`. See the
/// crate docs for the arguments.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args, item)
}

/// Runs the `async fn` as a test on an nbio runtime, under a seed it prints when the test
/// fails: `#[nbio::test] async fn it_works() { .. }`. Tasks that wait on each other in a cycle
/// fail the test. See the crate docs for the arguments.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args, item)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "#[nbio::main]",
            Kind::Test => "#[nbio::test]",
        }
    }
}

/// The arguments, as given.
#[derive(Default)]
struct Args {
    worker_threads: Option<Literal>,
    seed: Option<Literal>,
    virtual_time: Option<Span>,
}

/// A compile error at `span`.
struct Error {
    span: Span,
    message: String,
}

fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    match parse_args(kind, args).and_then(|args| rewrite(kind, &args, item.clone())) {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut out = compile_error(&error);
            out.extend(stand_in(kind, item));
            out
        }
    }
}

/// What stands in for the function when its attribute is wrong, so that the compiler reports
/// only the attribute's error: a test stays an ordinary (unused) function; a `main` becomes an
/// empty one, since the crate still needs an entry point.
fn stand_in(kind: Kind, item: TokenStream) -> TokenStream {
    match kind {
        Kind::Test => {
            let mut out: TokenStream = "#[allow(dead_code)]".parse().expect("valid tokens");
            out.extend(item);
            out
        }
        Kind::Main => {
            let mut tokens = item.into_iter();
            let named_main = tokens
                .any(|t| matches!(&t, TokenTree::Ident(i) if i.to_string() == "fn"))
                && matches!(tokens.next(), Some(TokenTree::Ident(i)) if i.to_string() == "main");
            if named_main {
                "fn main() {}".parse().expect("valid tokens")
            } else {
                TokenStream::new()
            }
        }
    }
}

fn parse_args(kind: Kind, args: TokenStream) -> Result<Args, Error> {
    let expected = "expected `worker_threads = N`, `seed = N` or `virtual_time`";
    let mut parsed = Args::default();
    let mut tokens = args.into_iter().peekable();
    while let Some(token) = tokens.next() {
        let TokenTree::Ident(name) = token else {
            return Err(Error {
                span: token.span(),
                message: format!("unexpected `{token}` in {}: {expected}", kind.attribute()),
            });
        };
        let key = name.to_string();
        let mut value = || -> Result<Literal, Error> {
            match (tokens.next(), tokens.next()) {
                (Some(TokenTree::Punct(eq)), Some(TokenTree::Literal(lit)))
                    if eq.as_char() == '=' =>
                {
                    let text = lit.to_string();
                    if text.chars().all(|c| c.is_ascii_digit() || c == '_') {
                        Ok(lit)
                    } else {
                        Err(Error {
                            span: lit.span(),
                            message: format!("`{key}` takes a whole number, not `{text}`"),
                        })
                    }
                }
                _ => Err(Error {
                    span: name.span(),
                    message: format!("`{key}` takes a number: `{key} = N`"),
                }),
            }
        };
        match key.as_str() {
            "worker_threads" => {
                let n = value()?;
                if n.to_string().trim_start_matches(['0', '_']).is_empty() {
                    return Err(Error {
                        span: n.span(),
                        message: "`worker_threads` must be at least 1".into(),
                    });
                }
                parsed.worker_threads = Some(n);
            }
            "seed" => parsed.seed = Some(value()?),
            "virtual_time" => parsed.virtual_time = Some(name.span()),
            other => {
                return Err(Error {
                    span: name.span(),
                    message: format!(
                        "unknown argument `{other}` to {}: {expected}",
                        kind.attribute()
                    ),
                })
            }
        }
        match tokens.next() {
            None => break,
            Some(TokenTree::Punct(comma)) if comma.as_char() == ',' => {}
            Some(other) => {
                return Err(Error {
                    span: other.span(),
                    message: format!(
                        "expected `,` between the arguments of {}, found `{other}`",
                        kind.attribute()
                    ),
                })
            }
        }
    }
    if let (Some(span), Some(_)) = (parsed.virtual_time, &parsed.worker_threads) {
        return Err(Error {
            span,
            message: format!(
                "{}: `virtual_time` needs the current-thread runtime; drop `worker_threads`",
                kind.attribute()
            ),
        });
    }
    Ok(parsed)
}

/// `async fn name(..) -> T { body }` becomes `fn name(..) -> T { <run body on a runtime> }`.
fn rewrite(kind: Kind, args: &Args, item: TokenStream) -> Result<TokenStream, Error> {
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let Some(TokenTree::Group(body)) = tokens.last().cloned() else {
        return Err(Error {
            span: Span::call_site(),
            message: format!("{} goes on a function", kind.attribute()),
        });
    };
    if body.delimiter() != Delimiter::Brace {
        return Err(Error {
            span: body.span(),
            message: format!("{} goes on a function with a body", kind.attribute()),
        });
    }
    tokens.pop();
    let fn_at = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"));
    let Some(fn_at) = fn_at else {
        return Err(Error {
            span: body.span(),
            message: format!("{} goes on a function", kind.attribute()),
        });
    };
    let async_at = tokens[..fn_at]
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"));
    let Some(async_at) = async_at else {
        return Err(Error {
            span: tokens[fn_at].span(),
            message: format!(
                "{} needs an `async fn` (it runs the function's future on a runtime); \
                 write `async fn`",
                kind.attribute()
            ),
        });
    };
    tokens.remove(async_at);
    if kind == Kind::Test {
        if let Some(TokenTree::Group(params)) = tokens.get(fn_at + 1) {
            if params.delimiter() == Delimiter::Parenthesis && !params.stream().is_empty() {
                return Err(Error {
                    span: params.span(),
                    message: "#[nbio::test] functions take no arguments".into(),
                });
            }
        }
    }
    let mut out = TokenStream::new();
    if kind == Kind::Test {
        out.extend(
            "#[::core::prelude::v1::test]"
                .parse::<TokenStream>()
                .expect("valid"),
        );
    }
    out.extend(tokens);
    let run = run_call(kind, args, body);
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, run))]);
    Ok(out)
}

/// The call that runs `body` on a runtime: `::nbio::__private::run_x(settings, async move body)`.
/// The body keeps its tokens, and so the spans of the user's code.
fn run_call(kind: Kind, args: &Args, body: Group) -> TokenStream {
    let option = |lit: &Option<Literal>| match lit {
        Some(lit) => format!("::core::option::Option::Some({lit})"),
        None => "::core::option::Option::None".to_string(),
    };
    let function = match kind {
        Kind::Main => "run_main",
        Kind::Test => "run_test",
    };
    let mut arguments: TokenStream = format!(
        "::nbio::__private::Settings {{ worker_threads: {}, seed: {}, virtual_time: {} }}, \
         async move",
        option(&args.worker_threads),
        option(&args.seed),
        args.virtual_time.is_some()
    )
    .parse()
    .expect("valid tokens");
    arguments.extend([TokenTree::Group(body)]);
    let mut call: TokenStream = format!("::nbio::__private::{function}")
        .parse()
        .expect("valid tokens");
    call.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        arguments,
    ))]);
    call
}

/// `::core::compile_error!("message");`, every token at the error's span, so that the compiler
/// points at the argument or the keyword that is wrong.
fn compile_error(error: &Error) -> TokenStream {
    let mut message = Literal::string(&error.message);
    message.set_span(error.span);
    let mut group = Group::new(Delimiter::Parenthesis, TokenTree::Literal(message).into());
    group.set_span(error.span);
    let mut tokens: Vec<TokenTree> = "::core::compile_error!"
        .parse::<TokenStream>()
        .expect("valid tokens")
        .into_iter()
        .collect();
    tokens.push(TokenTree::Group(group));
    tokens.push(TokenTree::Punct(Punct::new(';', Spacing::Alone)));
    tokens
        .into_iter()
        .map(|mut token| {
            token.set_span(error.span);
            token
        })
        .collect()
}
