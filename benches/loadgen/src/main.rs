//! `loadgen`: the load side of oxloop's echo benchmarks, and the floor.
//!
//! - `loadgen tcp HOST:PORT CONNS SIZE SECS [WARMUP]`: closed loop over CONNS
//!   TCP connections, one thread each: send SIZE bytes, read the whole echo,
//!   repeat. Prints one JSON line: requests, req/s and latency percentiles
//!   (microseconds) measured after WARMUP seconds.
//! - `loadgen udp HOST:PORT CONNS SIZE SECS [WARMUP]`: the same with one UDP
//!   socket per "connection" (a lost datagram is retried after 100 ms).
//! - `loadgen serve PORT`: a minimal single-threaded epoll echo server, the
//!   floor no event loop can beat by much. Prints `ready` once listening.

mod client;
mod server;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: loadgen tcp|udp HOST:PORT CONNS SIZE SECS [WARMUP]\n       loadgen serve PORT"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("tcp") | Some("udp") => client::main(&args),
        Some("serve") => server::main(&args),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
