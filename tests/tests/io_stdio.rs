//! `nbio::io::{stdin, stdout, stderr}` with the descriptors a program meets: pipes, files and
//! `/dev/null`. Each case re-runs this test binary as a child that plays one role (named in
//! `NBIO_STDIO_ROLE`) with its standard streams set by the parent; libtest prints its own lines
//! on the child's stdout too, so the role frames what it writes between `<<<` and `>>>`.
//! Also: nbio never leaves `O_NONBLOCK` on fd 0 or 1 (the shell shares them), `println!` and
//! nbio's writes come out in program order around a flush, and a read of stdin that loses a
//! race to a timer loses no byte.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, StreamExt};
use nbio_tests::TempDir;

const ROLE: &str = "NBIO_STDIO_ROLE";

fn playing(role: &str) -> bool {
    std::env::var(ROLE).is_ok_and(|played| played == role)
}

/// Runs the test `role` of this binary in a child, its stdin and stdout as given.
fn child(role: &str, stdin: Stdio, stdout: Stdio, input: Option<&[u8]>) -> Output {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([role, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut pipe = child.stdin.take();
    let input = input.map(<[u8]>::to_vec);
    // The racing role says "waiting" on stderr once its read lost to the timer: its input
    // goes in only then. Other roles get theirs at once.
    let racing = role == "role_race";
    let feeder = std::thread::spawn(move || {
        let mut said = Vec::new();
        if racing {
            let mut byte = [0u8; 1];
            while !said.ends_with(b"waiting\n") {
                match std::io::Read::read(&mut stderr, &mut byte) {
                    Ok(1) => said.push(byte[0]),
                    _ => break,
                }
            }
        }
        if let (Some(mut pipe), Some(input)) = (pipe.take(), input) {
            pipe.write_all(&input).unwrap();
        }
        std::io::Read::read_to_end(&mut stderr, &mut said).unwrap();
        said
    });
    let mut output = child.wait_with_output().unwrap();
    output.stderr = feeder.join().unwrap();
    assert!(
        output.status.success(),
        "role {role} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// What the role wrote between its frame marks.
fn framed(stdout: &[u8]) -> &[u8] {
    let start = stdout.windows(3).position(|w| w == b"<<<").expect("no <<<") + 3;
    let end = stdout
        .windows(3)
        .rposition(|w| w == b">>>")
        .expect("no >>>");
    &stdout[start..end]
}

fn is_nonblocking(fd: i32) -> bool {
    // SAFETY: F_GETFL reads the flags of a descriptor this process has open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fcntl({fd}, F_GETFL) failed");
    flags & libc::O_NONBLOCK != 0
}

/// Reads stdin line by line, writes each uppercased to stdout, framed.
#[test]
fn role_upper() {
    if !playing("role_upper") {
        return;
    }
    nbio::block_on(async {
        let mut out = futures_lite::io::BufWriter::new(nbio::io::stdout());
        out.write_all(b"<<<").await?;
        let mut lines = nbio::io::stdin().lines();
        while let Some(line) = lines.next().await {
            out.write_all(line?.to_uppercase().as_bytes()).await?;
            out.write_all(b"\n").await?;
        }
        out.write_all(b">>>").await?;
        out.flush().await?;
        assert!(
            !is_nonblocking(0) && !is_nonblocking(1),
            "nbio set O_NONBLOCK"
        );
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn lines_through_pipes_come_back_uppercased() {
    let out = child(
        "role_upper",
        Stdio::piped(),
        Stdio::piped(),
        Some(b"one\ntwo\nthree\n"),
    );
    assert_eq!(framed(&out.stdout), b"ONE\nTWO\nTHREE\n");
}

#[test]
fn stdin_from_a_file_and_stdout_to_a_file() {
    let dir = TempDir::new();
    let input = dir.path().join("in.txt");
    let output = dir.path().join("out.txt");
    std::fs::write(&input, "from a file\n").unwrap();
    let stdin = std::fs::File::open(&input).unwrap();
    let stdout = std::fs::File::create(&output).unwrap();
    child("role_upper", stdin.into(), stdout.into(), None);
    let written = std::fs::read(&output).unwrap();
    assert_eq!(framed(&written), b"FROM A FILE\n");
}

#[test]
fn stdin_from_dev_null_is_end_of_stream_and_stdout_to_dev_null_takes_everything() {
    let out = child("role_upper", Stdio::null(), Stdio::piped(), None);
    assert_eq!(framed(&out.stdout), b"");
    child(
        "role_upper",
        Stdio::piped(),
        Stdio::null(),
        Some(b"into the void\n"),
    );
}

/// Copies stdin to stdout with `nbio::io::copy`, framed.
#[test]
fn role_copy() {
    if !playing("role_copy") {
        return;
    }
    nbio::block_on(async {
        let mut out = nbio::io::stdout();
        out.write_all(b"<<<").await?;
        nbio::io::copy(&mut nbio::io::stdin(), &mut out).await?;
        out.write_all(b">>>").await?;
        out.flush().await
    })
    .unwrap();
}

#[test]
fn copy_from_stdin_to_stdout_is_byte_exact() {
    let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 251) as u8).collect();
    let out = child("role_copy", Stdio::piped(), Stdio::piped(), Some(&data));
    assert!(framed(&out.stdout) == data, "the copy changed the bytes");
}

/// `println!`, nbio's stdout, flush, `println!`, and nbio's stderr.
#[test]
fn role_interleave() {
    if !playing("role_interleave") {
        return;
    }
    nbio::block_on(async {
        println!("<<<first");
        let mut out = nbio::io::stdout();
        out.write_all(b"second\n").await?;
        out.flush().await?;
        println!("third>>>");
        let mut err = nbio::io::stderr();
        err.write_all(b"to stderr\n").await?;
        err.flush().await
    })
    .unwrap();
}

#[test]
fn println_and_nbio_writes_come_out_in_program_order_around_a_flush() {
    let out = child("role_interleave", Stdio::null(), Stdio::piped(), None);
    assert_eq!(framed(&out.stdout), b"first\nsecond\nthird");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to stderr\n"));
}

/// A read of stdin raced with a timer (it loses: the parent writes 50 ms late), then reads.
#[test]
fn role_race() {
    if !playing("role_race") {
        return;
    }
    nbio::block_on(async {
        let mut stdin = nbio::io::stdin();
        let mut buf = Vec::new();
        let won = nbio::select! {
            _ = stdin.read_buf(&mut buf) => "read",
            _ = nbio::time::sleep(Duration::from_millis(5)) => "timer",
        };
        assert_eq!(won, "timer");
        assert!(buf.is_empty());
        eprintln!("waiting");
        stdin.read_to_end(&mut buf).await?;
        let mut out = nbio::io::stdout();
        out.write_all(b"<<<").await?;
        out.write_all(&buf).await?;
        out.write_all(b">>>").await?;
        out.flush().await
    })
    .unwrap();
}

#[test]
fn a_stdin_read_that_loses_a_race_loses_no_byte() {
    let out = child(
        "role_race",
        Stdio::piped(),
        Stdio::piped(),
        Some(b"all of it"),
    );
    assert_eq!(framed(&out.stdout), b"all of it");
}
