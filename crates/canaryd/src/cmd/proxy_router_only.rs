//! `canaryd proxy` without `--policy`: a plain measured router. It splits
//! and measures every request and serves `/metrics`, but decides nothing:
//! the weight moves only through `/admin/weight`, typically set by a
//! `canaryd gate` whose policy says `router: embedded`. Before, a gate
//! driving a proxy needed the proxy to run a policy of its own that never
//! started, and that proxy then claimed "the canary takes no traffic (0%)"
//! while the gate had it at 50%.

use canaryd_proxy::{AdminAccess, Router, RouterConfig};

use crate::Fail;

pub fn run(cfg: RouterConfig, stable: &str, canary: &str) -> Result<u8, Fail> {
    let Some(admin) = cfg.admin_listen else {
        return Err(Fail::invalid(
            "without --policy the proxy is steered only through /admin/weight: give it \
             --admin-listen ADDR (and --admin-token-file F so a gate may set the weight)",
        ));
    };
    let steerable = match &cfg.admin_access {
        AdminAccess::ReadOnly => false,
        AdminAccess::Token(_) | AdminAccess::Open => true,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    rt.block_on(async move {
        let router = Router::start(cfg)
            .await
            .map_err(|e| Fail::invalid(e.to_string()))?;
        println!(
            "canaryd proxy: {} → stable {stable} / canary {canary}; router only (no --policy): \
             it measures every request and runs no rollout of its own; the weight ({}% to the \
             canary now) moves only through PUT http://{}/admin/weight",
            router.url(),
            router.weight(),
            router.admin_addr().unwrap_or(admin),
        );
        if !steerable {
            eprintln!(
                "warning: no admin token (--admin-token-file or CANARYD_ROUTER_TOKEN): the weight \
                 can be read but nothing can change it"
            );
        }
        super::proxy::shutdown_signal().await;
        println!(
            "stopping: router only, at {}% to the canary",
            router.weight()
        );
        router.shutdown().await;
        Ok(0)
    })
}
