//! Which world a component implements and at which contract version, read from its
//! exports before instantiation (a wrong plugin is refused with a message saying what
//! was expected and found); and each world's bindings of every version behind one
//! enum, so a pool serves a 0.1.0, 0.2.0 or 0.3.0 component alike (the version picks the
//! bindings, as Spin does).

use std::future::Future;

use wasmtime::component::InstancePre;
use wasmtime::{Engine, Store};

use super::bindings::{v0_1, v0_2, v0_3};
use super::host::HostState;
use wasmtime::component::Component;

/// A world's bindings (of every contract version), so one pool type serves all four
/// worlds (this file).
pub trait World: Sized + Send + Sync + 'static {
    const KIND: Kind;
    type Pre: Send + Sync + 'static;
    fn pre(pre: InstancePre<HostState>, version: Version) -> wasmtime::Result<Self::Pre>;
    fn version(pre: &Self::Pre) -> Version;
    fn instantiate<'a>(
        pre: &'a Self::Pre,
        store: &'a mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send + 'a;
    /// The component's `validate-settings` (0.2.0); 0.1.0 components accept any.
    fn validate_settings<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        settings: &'a [(String, String)],
    ) -> impl Future<Output = wasmtime::Result<Result<(), String>>> + Send + 'a;
}

/// The plugin kinds, one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Adapter,
    Strategy,
    Policy,
    Redactor,
    /// Since 0.3.0.
    Guardrail,
}

/// The contract versions this host links, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    V0_1,
    V0_2,
    V0_3,
}

impl Version {
    pub const ALL: [Version; 3] = [Version::V0_1, Version::V0_2, Version::V0_3];
    pub const LATEST: Version = Version::V0_3;

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1 => "0.1.0",
            Version::V0_2 => "0.2.0",
            Version::V0_3 => "0.3.0",
        }
    }
}

pub const PACKAGE: &str = "switchboard:plugin";

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Adapter,
        Kind::Strategy,
        Kind::Policy,
        Kind::Redactor,
        Kind::Guardrail,
    ];

    /// The world's name in `wit/`.
    pub fn world(self) -> &'static str {
        match self {
            Kind::Adapter => "adapter",
            Kind::Strategy => "strategy",
            Kind::Policy => "policy",
            Kind::Redactor => "redactor",
            Kind::Guardrail => "guardrail",
        }
    }

    /// The interface the world exports.
    pub fn interface(self) -> &'static str {
        match self {
            Kind::Adapter => "provider-adapter",
            Kind::Strategy => "load-balancer",
            Kind::Policy => "admission-policy",
            Kind::Redactor => "text-redactor",
            Kind::Guardrail => "guard",
        }
    }

    /// A short label for metrics and errors.
    pub fn label(self) -> &'static str {
        self.world()
    }
}

/// The versions a world exists at (a guardrail only since 0.3.0).
fn versions(kind: Kind) -> String {
    let v: Vec<_> = Version::ALL
        .iter()
        .filter(|v| kind != Kind::Guardrail || **v >= Version::V0_3)
        .map(|v| v.as_str())
        .collect();
    v.join(" or ")
}

/// Checks that `component` exports `expected`'s interface at a version we speak, and
/// says which.
pub fn check(engine: &Engine, component: &Component, expected: Kind) -> Result<Version, String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    for v in Version::ALL.iter().rev() {
        let want = format!("{PACKAGE}/{}@{}", expected.interface(), v.as_str());
        if exports.contains(&want) {
            return Ok(*v);
        }
    }
    let expected_desc = format!(
        "a `{}` plugin (world {PACKAGE}/{} at version {}, exporting {PACKAGE}/{})",
        expected.world(),
        expected.world(),
        versions(expected),
        expected.interface(),
    );
    for e in &exports {
        let Some(rest) = e.strip_prefix(&format!("{PACKAGE}/")) else {
            continue;
        };
        let (iface, version) = rest.split_once('@').unwrap_or((rest, "?"));
        if let Some(kind) = Kind::ALL.iter().find(|k| k.interface() == iface) {
            if *kind == expected {
                return Err(format!(
                    "expected {expected_desc}, found the same interface at version {version}: rebuild it against {PACKAGE}@{}",
                    Version::LATEST.as_str()
                ));
            }
            return Err(format!(
                "expected {expected_desc}, found a `{}` plugin ({e})",
                kind.world()
            ));
        }
    }
    let found = if exports.is_empty() {
        "no exports".to_string()
    } else {
        exports.join(", ")
    };
    Err(format!(
        "expected {expected_desc}, found a component exporting: {found}"
    ))
}

/// One world's bindings at each version: the enum of instances, of pre-instances,
/// and the `World` impl that picks by version.
macro_rules! versioned_world {
    ($name:ident, $pre:ident, $kind:expr, $m:ident, $B:ident, $P:ident) => {
        pub enum $name {
            V0_1(v0_1::$m::$B),
            V0_2(v0_2::$m::$B),
            V0_3(v0_3::$m::$B),
        }

        pub enum $pre {
            V0_1(v0_1::$m::$P<HostState>),
            V0_2(v0_2::$m::$P<HostState>),
            V0_3(v0_3::$m::$P<HostState>),
        }

        impl World for $name {
            const KIND: Kind = $kind;
            type Pre = $pre;

            fn pre(pre: InstancePre<HostState>, version: Version) -> wasmtime::Result<$pre> {
                Ok(match version {
                    Version::V0_1 => $pre::V0_1(v0_1::$m::$P::new(pre)?),
                    Version::V0_2 => $pre::V0_2(v0_2::$m::$P::new(pre)?),
                    Version::V0_3 => $pre::V0_3(v0_3::$m::$P::new(pre)?),
                })
            }

            fn version(pre: &$pre) -> Version {
                match pre {
                    $pre::V0_1(_) => Version::V0_1,
                    $pre::V0_2(_) => Version::V0_2,
                    $pre::V0_3(_) => Version::V0_3,
                }
            }

            fn instantiate<'a>(
                pre: &'a $pre,
                store: &'a mut Store<HostState>,
            ) -> impl Future<Output = wasmtime::Result<Self>> + Send + 'a {
                async move {
                    Ok(match pre {
                        $pre::V0_1(p) => $name::V0_1(p.instantiate_async(store).await?),
                        $pre::V0_2(p) => $name::V0_2(p.instantiate_async(store).await?),
                        $pre::V0_3(p) => $name::V0_3(p.instantiate_async(store).await?),
                    })
                }
            }

            fn validate_settings<'a>(
                &'a self,
                store: &'a mut Store<HostState>,
                settings: &'a [(String, String)],
            ) -> impl Future<Output = wasmtime::Result<Result<(), String>>> + Send + 'a {
                async move {
                    match self {
                        // 0.1.0 has no way to say: its settings are taken as they are.
                        $name::V0_1(_) => Ok(Ok(())),
                        $name::V0_2(b) => b.call_validate_settings(store, settings).await,
                        $name::V0_3(b) => b.call_validate_settings(store, settings).await,
                    }
                }
            }
        }
    };
}

versioned_world!(
    Adapter,
    AdapterPre,
    Kind::Adapter,
    adapter,
    Adapter,
    AdapterPre
);
versioned_world!(
    Strategy,
    StrategyPre,
    Kind::Strategy,
    strategy,
    Strategy,
    StrategyPre
);
versioned_world!(Policy, PolicyPre, Kind::Policy, policy, Policy, PolicyPre);
versioned_world!(
    Redactor,
    RedactorPre,
    Kind::Redactor,
    redactor,
    Redactor,
    RedactorPre
);

/// The guardrail world, which exists since 0.3.0 only.
pub struct Guardrail(pub v0_3::guardrail::Guardrail);

pub struct GuardrailPre(v0_3::guardrail::GuardrailPre<HostState>);

impl World for Guardrail {
    const KIND: Kind = Kind::Guardrail;
    type Pre = GuardrailPre;

    fn pre(pre: InstancePre<HostState>, version: Version) -> wasmtime::Result<GuardrailPre> {
        match version {
            Version::V0_3 => Ok(GuardrailPre(v0_3::guardrail::GuardrailPre::new(pre)?)),
            v => Err(wasmtime::format_err!(
                "a guardrail needs contract 0.3.0 or later, not {}",
                v.as_str()
            )),
        }
    }

    fn version(_: &GuardrailPre) -> Version {
        Version::V0_3
    }

    async fn instantiate(
        pre: &GuardrailPre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        Ok(Guardrail(pre.0.instantiate_async(store).await?))
    }

    fn validate_settings<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        settings: &'a [(String, String)],
    ) -> impl Future<Output = wasmtime::Result<Result<(), String>>> + Send + 'a {
        self.0.call_validate_settings(store, settings)
    }
}
