//! SIGINT (Ctrl-C) and SIGTERM (how systemd stops a unit) end a command alike: what it was
//! doing is dropped, so its open transaction rolls back, and it exits 130 or 143.

use ascend::exit;

/// Which signal stopped the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => exit::INTERRUPTED,
            Stop::Terminate => exit::TERMINATED,
        }
    }
}

/// The signal seen, for every waiter: set once by the listener [`install`] starts.
static STOPPED: std::sync::OnceLock<tokio::sync::watch::Receiver<Option<Stop>>> =
    std::sync::OnceLock::new();

/// Starts listening for SIGINT and SIGTERM, before the command runs: a signal that arrives
/// while it is still connecting is seen by every later waiter too.
pub fn install() {
    let (tx, rx) = tokio::sync::watch::channel(None);
    if STOPPED.set(rx).is_err() {
        return;
    }
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::spawn(async move {
        #[cfg(unix)]
        let stop = match term {
            Some(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => Stop::Interrupt,
                _ = term.recv() => Stop::Terminate,
            },
            None => {
                let _ = tokio::signal::ctrl_c().await;
                Stop::Interrupt
            }
        };
        #[cfg(not(unix))]
        let stop = {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        };
        let _ = tx.send(Some(stop));
    });
}

/// Waits for SIGINT or SIGTERM (see [`install`]); every waiter sees the signal.
pub async fn stopped() -> Stop {
    let Some(rx) = STOPPED.get() else {
        return std::future::pending().await;
    };
    let mut rx = rx.clone();
    let seen = match rx.wait_for(Option::is_some).await {
        Ok(stop) => *stop,
        Err(_) => None,
    };
    match seen {
        Some(stop) => stop,
        None => std::future::pending().await,
    }
}
