//! Fresh PostgreSQL databases for tests: one per test, created on the server named by
//! `ASSISTD_TEST_POSTGRES_URL` (default: the local server every development and CI machine has,
//! trust auth) and dropped when the guard goes out of scope.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;

/// The server the tests create their databases on.
pub fn server_url() -> String {
    std::env::var("ASSISTD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped when the guard is.
pub struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database on the test server.
    pub async fn create() -> Self {
        let server = server_url();
        let name = format!("assistd_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server)
            .await
            .expect("connect to the test server (ASSISTD_TEST_POSTGRES_URL)");
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin
            .close()
            .await
            .expect("disconnect from the test server");
        Self { server, name }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        PgConnectOptions::from_str(&self.server)
            .expect("test server url")
            .database(&self.name)
            .to_url_lossy()
            .to_string()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime cannot be blocked on from within: the
        // database is dropped from a thread with a runtime of its own. FORCE ends the
        // connections a pool dropped just before may still hold open.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
            .map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test database {} left behind: {e}", self.name),
            Err(_) => eprintln!(
                "test database {} left behind: dropping it panicked",
                self.name
            ),
        }
    }
}

/// A TCP proxy on 127.0.0.1 in front of the test server, for a database that goes away and
/// comes back: [`Outage::cut`] closes every connection through it and refuses new ones, as a
/// database that went down would; [`Outage::restore`] takes connections again on the same
/// port, which no one else can take meanwhile.
pub struct Outage {
    addr: std::net::SocketAddr,
    target: String,
    state: std::sync::Mutex<Option<State>>,
}

/// Up, or down with the port held by a socket bound to it but not listening (connections to
/// it are refused).
enum State {
    Up {
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    },
    Down(tokio::net::TcpSocket),
}

/// A socket bound to `addr` that other such sockets may share (`SO_REUSEPORT`), so that the
/// port can be held while the listener on it closes.
fn shared_socket(addr: std::net::SocketAddr) -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.set_reuseport(true).expect("SO_REUSEPORT");
    socket.bind(addr).expect("bind the proxy's port");
    socket
}

impl State {
    fn up(socket: tokio::net::TcpSocket, target: String) -> Self {
        let listener = socket.listen(1024).expect("listen on the proxy's port");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(accept(listener, target, stopped));
        Self::Up { stop, task }
    }
}

impl Outage {
    /// A proxy to the test server, taking connections (on the caller's tokio runtime).
    pub fn start() -> Self {
        let server = PgConnectOptions::from_str(&server_url()).expect("test server url");
        let target = format!("{}:{}", server.get_host(), server.get_port());
        let socket = shared_socket(([127, 0, 0, 1], 0).into());
        let addr = socket.local_addr().expect("the proxy's address");
        Self {
            addr,
            state: std::sync::Mutex::new(Some(State::up(socket, target.clone()))),
            target,
        }
    }

    /// `db`'s URL through the proxy.
    pub fn url_of(&self, db: &TestDatabase) -> String {
        PgConnectOptions::from_str(&db.url())
            .expect("test database url")
            .host(&self.addr.ip().to_string())
            .port(self.addr.port())
            .to_url_lossy()
            .to_string()
    }

    fn take(&self) -> Option<State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn set(&self, state: State) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(state);
    }

    /// Closes every connection through the proxy and refuses new ones; returns once every
    /// socket is closed.
    pub async fn cut(&self) {
        let Some(State::Up { stop, task }) = self.take() else {
            panic!("cut a proxy that was not up");
        };
        let held = shared_socket(self.addr);
        let _ = stop.send(());
        task.await.expect("the proxy stops");
        self.set(State::Down(held));
    }

    /// Takes connections again, on the same port.
    pub fn restore(&self) {
        let Some(State::Down(held)) = self.take() else {
            panic!("restored a proxy that was not cut");
        };
        self.set(State::up(held, self.target.clone()));
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if let Some(State::Up { task, .. }) = self.take() {
            task.abort();
        }
    }
}

/// Pipes each connection `listener` takes to `target` until `stop`; then closes the listener
/// and every pipe, and waits for them to be gone.
async fn accept(
    listener: tokio::net::TcpListener,
    target: String,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut pipes = tokio::task::JoinSet::new();
    loop {
        let taken = tokio::select! {
            _ = &mut stop => break,
            taken = listener.accept() => taken,
        };
        let Ok((mut client, _)) = taken else {
            // Out of file descriptors, say: a moment for some to close.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let target = target.clone();
        pipes.spawn(async move {
            if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
        while pipes.try_join_next().is_some() {}
    }
    drop(listener);
    pipes.shutdown().await;
}
