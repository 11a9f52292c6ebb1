//! A real `redis-server` per test: a free loopback port, persistence off, killed on
//! drop. Where `redis-server` is missing the test is skipped with a note; under CI
//! (`CI=true`) its absence fails.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    pub child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Starts one on a free port, or `None` (with a printed note) where
    /// `redis-server` is not installed. Under `CI=true` a missing server panics.
    pub fn start() -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("redis-server is not installed (CI=true): apt-get install -y redis-server");
            }
            eprintln!("note: redis-server is not installed; skipping this test");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(Self::start_on(port))
    }

    /// Starts one on `port` (e.g. again after [`kill`](Self::kill)).
    pub fn start_on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = RedisServer {
            child: Some(child),
            port,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.command("PING").is_some_and(|r| r.starts_with("+PONG")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not answer", self.port);
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one inline command, returns the raw reply (best effort).
    pub fn command(&self, command: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 16384];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    reply.extend_from_slice(&buf[..n]);
                    if reply.ends_with(b"\r\n") && complete(&reply) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Some(String::from_utf8_lossy(&reply).into_owned())
    }

    /// How many times Redis ran `command` (from `INFO commandstats`), e.g. "evalsha".
    pub fn calls(&self, command: &str) -> u64 {
        let info = self.command("INFO commandstats").unwrap_or_default();
        let prefix = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a RESP reply is complete (a bulk string's announced length received).
fn complete(reply: &[u8]) -> bool {
    if reply.first() != Some(&b'$') {
        return true;
    }
    let text = String::from_utf8_lossy(reply);
    let Some((len, rest)) = text[1..].split_once("\r\n") else {
        return false;
    };
    let Ok(len) = len.parse::<usize>() else {
        return true;
    };
    rest.len() >= len + 2
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
