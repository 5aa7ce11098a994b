//! A line filter on nbio: standard input, each line uppercased, to standard output.
//!
//! What it shows: a program that is not a server. `nbio::io::stdin()` is `AsyncBufRead`, so
//! `lines()` reads it line by line; `nbio::io::stdout()` takes the lines, through a
//! `BufWriter` so that a job on the blocking pool writes many lines at once rather than one
//! each. Standard input and output may be a pipe, a file, a terminal or `/dev/null`: nbio
//! reads and writes them on its blocking pool and never switches them to non-blocking mode,
//! which would change them for the shell too. The last `flush` matters: it waits until
//! everything written reached the descriptor, before the program ends.
//!
//! Run it with `printf 'one\ntwo\n' | cargo run -p nbio --example line_filter`
//! (with nothing piped in, it reads the terminal until Ctrl-D).

use futures_lite::io::BufWriter;
use futures_lite::{AsyncBufReadExt, AsyncWriteExt, StreamExt};

fn main() -> std::io::Result<()> {
    nbio::block_on(async {
        let mut out = BufWriter::new(nbio::io::stdout());
        let mut lines = nbio::io::stdin().lines();
        let mut count = 0u64;
        while let Some(line) = lines.next().await {
            out.write_all(line?.to_uppercase().as_bytes()).await?;
            out.write_all(b"\n").await?;
            count += 1;
        }
        out.flush().await?;
        let mut err = nbio::io::stderr();
        err.write_all(format!("{count} lines\n").as_bytes()).await?;
        err.flush().await
    })
}
