//! Who may call the gateway and as whom: people and their sign-in, virtual keys,
//! end users from signed tokens, and the sign-in throttle.

pub mod auth_throttle;
pub mod end_users;
pub mod people;
pub mod vkeys;
