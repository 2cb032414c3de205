//! A part of the gateway that exists while the config asks for it (the usage log, the
//! access log, the response store): on start and every reload it is made anew when its
//! settings changed, kept when they did not, and dropped when they are gone.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

/// What such a part was made from.
pub trait Configured {
    type Config: PartialEq;
    fn config(&self) -> &Self::Config;
}

/// Follows `want` in `slot`: `make` builds the part for new settings.
pub fn follow<W: Configured, E>(
    slot: &ArcSwapOption<W>,
    want: Option<&W::Config>,
    make: impl FnOnce(&W::Config) -> Result<W, E>,
) -> Result<(), E> {
    let current = slot.load_full();
    match (want, current.as_deref()) {
        (None, _) => slot.store(None),
        (Some(want), Some(have)) if have.config() == want => {}
        (Some(want), _) => slot.store(Some(Arc::new(make(want)?))),
    }
    Ok(())
}
