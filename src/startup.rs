//! Building the application: bind first (so tests can use port 0 and know the
//! port before serving), open and migrate the database, load the signing key,
//! create the first administrator, then serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Auth, Bootstrap};
use crate::config::Config;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::rag::KnowledgeBase;
use crate::{http, store};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    bootstrap: Option<Bootstrap>,
}

impl Application {
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data folder {}", config.data_dir.display()))?;
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        config.public_url = config.public_url_or(listener.local_addr()?);
        let config = Arc::new(config);
        let store = store::connect(&config).await.context("cannot open the database")?;
        let auth = Auth::new(config.clone(), store.clone()).await?;
        let bootstrap = auth.bootstrap_admin().await?;
        let embedder = crate::rag::embed::from_config(&config).context("cannot load the embedding model")?;
        let knowledge =
            KnowledgeBase::open(config.clone(), store.clone(), embedder).await.with_context(|| {
                format!(
                    "cannot open the search index in {} (each docent process needs a data folder of its own)",
                    config.data_dir.join("index").display()
                )
            })?;
        let llm = crate::llm::from_config(&config).context("cannot set up the language model")?;
        let state = AppState {
            config,
            store,
            auth,
            metrics: Arc::new(Metrics::new()),
            openapi: http::openapi(),
            knowledge,
            llm,
            demo_page: http::assets::demo_page(None),
        };
        Ok(Self { listener, state, bootstrap })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| self.state.config.bind)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// With `create_sample`, makes the sample workspace and bot unless they
    /// exist (their documents are processed in the background, as uploads
    /// are); then shows the sample bot, if any, on the demo page.
    pub async fn prepare_demo(&mut self, create_sample: bool) -> anyhow::Result<()> {
        let state = &mut self.state;
        if create_sample {
            let owner = state.store.first_admin().await?.context(
                "no administrator exists to own the sample; create one with `docent user create --admin`",
            )?;
            let base_url = state.config.widget_base_url().to_owned();
            let sample = crate::sample::ensure(state.store.as_ref(), owner.id, &base_url).await?;
            if sample.documents_added > 0 {
                state.knowledge.job_added();
            }
        }
        let token =
            crate::sample::demo_token(&state.auth, state.store.as_ref(), &state.config.data_dir).await?;
        state.demo_page = http::assets::demo_page(token.as_deref());
        Ok(())
    }

    /// The first administrator, if this start created one.
    pub fn take_bootstrap(&mut self) -> Option<Bootstrap> {
        self.bootstrap.take()
    }

    /// Serves until `shutdown` completes, then lets open requests finish for up
    /// to [`SHUTDOWN_GRACE`]. Housekeeping (`crate::housekeeping`) runs alongside.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopping = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let store = self.state.store.clone();
        let housekeeping = tokio::spawn(crate::housekeeping::run(
            self.state.config.clone(),
            self.state.store.clone(),
            stopping(stop_rx.clone()),
        ));
        let background =
            tokio::spawn(Arc::clone(&self.state.knowledge).run_background(stopping(stop_rx.clone())));
        let app = http::router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(stopping(stop_rx.clone()));
        let deadline = async {
            stopping(stop_rx).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let served = tokio::select! {
            served = serve => served,
            () = deadline => {
                tracing::warn!("requests still open {}s after the stop signal; stopping anyway", SHUTDOWN_GRACE.as_secs());
                Ok(())
            }
        };
        housekeeping.abort();
        background.abort();
        store.close().await;
        served
    }
}

/// How long open requests may run on after a stop signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
