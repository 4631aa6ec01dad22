//! tokio UDP echo server: `udp_echo_server PORT` (0 = ephemeral), 127.0.0.1 only.
//! Prints `PORT <n>` once bound; exits on SIGTERM or ctrl-c.
use std::io::Write;
use tokio::net::UdpSocket;
use tokio::signal::unix::{signal, SignalKind};

async fn echo(sock: &UdpSocket) -> std::io::Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = sock.recv_from(&mut buf).await?;
        sock.send_to(&buf[..n], peer).await?;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = match args.get(1).map(|s| s.parse()) {
        Some(Ok(p)) if args.len() == 2 => p,
        _ => {
            eprintln!("usage: udp_echo_server PORT");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        let sock = match UdpSocket::bind(("127.0.0.1", port)).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("udp_echo_server: bind: {e}");
                return 2;
            }
        };
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        println!("PORT {}", sock.local_addr().map(|a| a.port()).unwrap_or(0));
        let _ = std::io::stdout().flush();
        tokio::select! {
            r = echo(&sock) => {
                if let Err(e) = r {
                    eprintln!("udp_echo_server: {e}");
                    return 1;
                }
                0
            }
            _ = term.recv() => 0,
            _ = tokio::signal::ctrl_c() => 0,
        }
    });
    std::process::exit(code);
}
