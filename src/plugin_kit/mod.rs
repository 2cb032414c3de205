//! The plugin developer's tools, apart from the host that runs plugins (`crate::plugins`):
//! `switchboard plugin new` (`scaffold`, with its templates and the SDK's files),
//! `plugin build` (`building`), `plugin test` with a cases file (`testing`, and the
//! adapter cases of `adapter_cases`, the guardrail cases of `guard_cases`); `cli` is the commands' side of them (and of
//! `plugin inspect`, which the host answers: `plugins::inspect`).

pub mod adapter_cases;
pub mod building;
pub mod cli;
pub mod guard_cases;
pub mod scaffold;
pub mod testing;
