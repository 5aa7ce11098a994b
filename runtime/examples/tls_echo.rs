//! TLS on nbio with futures-rustls: an echo server and its client, 7 MiB each way.
//!
//! What it shows: a runtime-agnostic crate on futures-io runs on nbio's streams as it is.
//! futures-rustls wraps any `AsyncRead + AsyncWrite`; an `AsyncTcpStream` is one, so the TLS
//! server is `acceptor.accept(stream)` and the client `connector.connect(name, stream)`, with
//! nothing of nbio's own in between. The certificate is made at start by rcgen, for
//! `localhost`, and the client trusts exactly that one.
//!
//! The client writes the article's 7 MiB (`b"foobar\n"` a million times) while it reads the
//! echo back on the same task (`futures_lite::io::split` and `future::zip`), then compares
//! what came back by length and by an FNV-1a hash, which it prints.
//!
//! Run it with `cargo run -p nbio --example tls_echo`.

use std::io;
use std::sync::Arc;

use futures_lite::future;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use nbio::net::{AsyncTcpListener, AsyncTcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// FNV-1a, 64 bits: a hash small enough to write here, good enough to tell two 7 MiB
/// streams apart.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A self-signed certificate for `localhost`, and a server and a client configuration that
/// use it.
fn configs() -> Result<(ServerConfig, ClientConfig), Error> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    let mut roots = RootCertStore::empty();
    roots.add(cert)?;
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((server, client))
}

/// Echoes everything one TLS connection sends, until it closes; returns how many bytes.
async fn echo(acceptor: TlsAcceptor, stream: AsyncTcpStream) -> io::Result<u64> {
    let mut tls = acceptor.accept(stream).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
        total += n as u64;
    }
    tls.close().await?; // close_notify, then the TCP FIN
    Ok(total)
}

fn main() -> Result<(), Error> {
    let (server_config, client_config) = configs()?;
    let acceptor = TlsAcceptor::from(Arc::new(server_config));
    let connector = TlsConnector::from(Arc::new(client_config));
    let payload = b"foobar\n".repeat(1_048_576);
    nbio::block_on(async {
        let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = nbio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            echo(acceptor, stream).await
        });

        let stream = AsyncTcpStream::connect(addr).await?;
        let tls = connector
            .connect(ServerName::try_from("localhost")?, stream)
            .await?;
        println!("TLS handshake done with localhost ({addr})");
        let (mut reader, mut writer) = futures_lite::io::split(tls);
        let send = async {
            writer.write_all(&payload).await?;
            writer.close().await?;
            io::Result::Ok(())
        };
        let receive = async {
            let mut echoed = Vec::with_capacity(payload.len());
            reader.read_to_end(&mut echoed).await?;
            io::Result::Ok(echoed)
        };
        let (sent, echoed) = future::zip(send, receive).await;
        sent?;
        let echoed = echoed?;
        let served = server.await??;
        println!(
            "sent {} bytes, fnv1a64 {:#018x}",
            payload.len(),
            fnv1a64(&payload)
        );
        println!(
            "echoed {} bytes, fnv1a64 {:#018x}",
            echoed.len(),
            fnv1a64(&echoed)
        );
        println!("the server echoed {served} bytes over TLS");
        if echoed != payload {
            return Err("the echo differs from what was sent".into());
        }
        println!("the echo is byte-exact");
        Ok(())
    })
}
