//! A `redis-server` of a test's own (Debian's `redis-server` package;
//! `.ci/run` installs it) on a free loopback port with persistence off, and
//! what every facade using it needs: the shared encryption keys.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use secrecy::SecretString;
use unico_facade::{
    config::Settings,
    idempotency::{Keyring, StoreSettings},
    store::RedisSettings,
};

/// A `redis-server` of the test's own, killed on drop.
pub(crate) struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self { port, child: None };
        server.restart();
        server
    }

    /// (Re)starts the server on its port: persistence off, loopback only.
    pub(crate) fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                // DEBUG SLEEP stands for a slow Redis (loopback clients only).
                "--enable-debug-command",
                "local",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot run redis-server ({error}): install the Debian package `redis-server` \
                     (apt-get install redis-server); .ci/run does"
                )
            });
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.cli(&["PING"]) != b"PONG\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// `redis-cli` against this server: its raw stdout.
    pub(crate) fn cli(&self, args: &[&str]) -> Vec<u8> {
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap_or_else(|error| {
                panic!("cannot run redis-cli ({error}): install the Debian package `redis-server`")
            })
            .stdout
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The encryption keys every replica of a test shares (required with Redis).
pub(crate) fn keyring() -> Keyring {
    let line = |id: &str, byte: u8| format!("{id}:{}\n", STANDARD.encode([byte; 32]));
    Keyring::parse(&(line("2026-12", 3) + &line("2026-06", 9))).unwrap()
}

/// Points `settings` at `redis` (idempotency store, shared rate budget).
pub(crate) fn use_redis(settings: &mut Settings, redis: &RedisServer) {
    settings.idempotency.store = StoreSettings::Redis(RedisSettings {
        url: SecretString::from(redis.url()),
        password: None,
    });
    settings.idempotency.keys = Some(keyring());
}
