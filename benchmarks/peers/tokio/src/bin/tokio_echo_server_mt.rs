//! tokio echo server on the multi-thread runtime (`worker_threads = N`, work
//! stealing): one listener, a task per connection spawned onto the runtime,
//! which moves tasks between its worker threads. The connection handler is
//! the bench kit's tokio_echo_server (read into a 64 KiB buffer, write_all,
//! TCP_NODELAY); only the runtime differs.
//!
//! usage: tokio_echo_server_mt [--threads N] PORT   (N default 2; 127.0.0.1:PORT until killed)
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn serve(port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    loop {
        let (mut sock, _) = listener.accept().await.unwrap();
        sock.set_nodelay(true).unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if sock.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (threads, rest) = match args.first().map(String::as_str) {
        Some("--threads") if args.len() >= 2 => (args[1].parse().unwrap_or(0), &args[2..]),
        _ => (2usize, &args[..]),
    };
    let port: Option<u16> = if rest.len() == 1 { rest[0].parse().ok() } else { None };
    let (Some(port), true) = (port, threads >= 1) else {
        eprintln!("usage: tokio_echo_server_mt [--threads N] PORT");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    // The accept loop is a task too (block_on's future would run on this
    // thread, outside the workers).
    rt.block_on(async move { tokio::spawn(serve(port)).await.unwrap() });
}
