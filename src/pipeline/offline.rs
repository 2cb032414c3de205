//! Work the gateway admits but does not carry itself: a batch, which the provider runs
//! later from a file. Its requests are counted and priced per route (`Ask`), every
//! policy that would see them one by one is asked once for all of them — the route's,
//! the gateway's, the key's and its team's — and a denial refuses the batch with the
//! policy's own answer (a spent budget's 429). An admitted batch is charged what it
//! was reserved for, as an estimate (the provider reports no usage back through the
//! gateway); one the provider then refuses is given its reservation back. Each route's
//! share is one request context, settled exactly once like any other.

use std::sync::Arc;

use super::ctx::{Protocol, RequestCtx};
use super::error::Error;
use crate::gateway::Gateway;
use crate::live::Principal;
use crate::types::{PolicyRequest, Usage};

/// What a batch asks of one route: its requests' estimated prompt tokens and the
/// output tokens they may write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ask {
    pub route: String,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub output_tokens: u64,
}

/// An admitted batch's reservations, one request context per route.
pub struct Reservation {
    held: Vec<(Arc<RequestCtx>, Usage, (String, crate::config::Target))>,
}

/// Asks every policy that applies to each route of `asks`; all must admit.
pub async fn reserve(
    gw: &Gateway,
    principal: &Principal,
    asks: &[Ask],
) -> Result<Reservation, Error> {
    let live = gw.live.load_full();
    let mut held = Reservation { held: Vec::new() };
    for ask in asks {
        let Some(route) = live.routes.get(&ask.route) else {
            held.release(404).await;
            return Err(Error::ModelNotFound(ask.route.clone()));
        };
        let Some(first) = route.targets.first() else {
            held.release(503).await;
            return Err(Error::NoTarget {
                code: "targets_disabled",
                message: format!("every target of model `{}` is disabled", ask.route),
            });
        };
        // The batch's end user: the key's, or a verified token's; a route or key that
        // takes it from tokens only needs one here too.
        let user = match super::end_user(principal, route, None) {
            Ok(u) => u,
            Err(e) => {
                held.release(401).await;
                return Err(e);
            }
        };
        let ctx = RequestCtx::new(
            Protocol::Batch,
            &principal.key_name,
            gw.metrics.clone(),
            gw.usage.sink(),
            gw.access_log.sink(),
            None,
        );
        ctx.route(&route.route.name, &route.outcomes);
        ctx.who(principal.team.as_ref(), user.as_ref());
        let preq = PolicyRequest {
            request_id: ctx.id.clone(),
            key_name: principal.key_name.clone(),
            team: principal.team.clone(),
            user,
            route: route.route.name.clone(),
            tags: principal
                .tags
                .iter()
                .chain(&route.route.tags)
                .cloned()
                .collect(),
            n: 1,
            estimated_input_tokens: ask.prompt_tokens,
            max_output_tokens: Some(ask.output_tokens),
            stream: false,
        };
        let extra = live.principal_policies(principal);
        if let Err(e) = super::ctx::policies::check(route, &extra, preq, &ctx).await {
            ctx.failed(e.label());
            ctx.settle(e.status()).await;
            held.release(e.status()).await;
            return Err(e);
        }
        let usage = Usage {
            prompt: ask.prompt_tokens,
            completion: ask.output_tokens,
            cached_prompt: 0,
        };
        let target = (first.target.provider.clone(), first.target.clone());
        held.held.push((ctx, usage, target));
    }
    Ok(held)
}

impl Reservation {
    /// The batch was made: each route is charged its reservation, as an estimate.
    pub async fn charge(self) {
        for (ctx, usage, (provider, target)) in self.held {
            ctx.answered(&provider, &target, usage);
            ctx.spent_estimate(usage);
            ctx.settle(200).await;
        }
    }

    /// The batch was not made: every reservation is given back.
    pub async fn release(self, status: u16) {
        for (ctx, _, _) in self.held {
            ctx.settle(status).await;
        }
    }
}
