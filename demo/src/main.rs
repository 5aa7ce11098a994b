//! The demo: the article's scene (two 7 MB sends while a counter counts). A placeholder until
//! the demo issue lands; it already runs the scene once, small.

fn main() {
    let result = nbio::block_on(async {
        let listener = nbio::net::AsyncTcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = nbio::spawn(async move {
            let (conn, _) = listener.accept().await?;
            let mut buf = [0u8; 1024];
            let mut total = 0usize;
            loop {
                match conn.read(&mut buf).await? {
                    0 => return std::io::Result::Ok(total),
                    n => total += n,
                }
            }
        });
        let sock = nbio::net::AsyncTcpStream::connect(addr).await?;
        sock.write_all(&b"foobar\n".repeat(1024 * 1024)).await?;
        sock.shutdown(std::net::Shutdown::Write)?;
        let received = server.await??;
        std::io::Result::Ok(received)
    });
    match result {
        Ok(bytes) => println!("sent and confirmed {bytes} bytes"),
        Err(err) => {
            eprintln!("demo: {err}");
            std::process::exit(1);
        }
    }
}
