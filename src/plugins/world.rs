//! Which world a component implements, read from its exports before instantiation,
//! so a wrong plugin is refused with a message saying what was expected and found.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The plugin kinds, one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Adapter,
    Strategy,
    Policy,
    Redactor,
}

pub const PACKAGE: &str = "switchboard:plugin";
pub const VERSION: &str = "0.1.0";

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Adapter, Kind::Strategy, Kind::Policy, Kind::Redactor];

    /// The world's name in `wit/`.
    pub fn world(self) -> &'static str {
        match self {
            Kind::Adapter => "adapter",
            Kind::Strategy => "strategy",
            Kind::Policy => "policy",
            Kind::Redactor => "redactor",
        }
    }

    /// The interface the world exports.
    pub fn interface(self) -> &'static str {
        match self {
            Kind::Adapter => "provider-adapter",
            Kind::Strategy => "load-balancer",
            Kind::Policy => "admission-policy",
            Kind::Redactor => "text-redactor",
        }
    }

    /// A short label for metrics and errors.
    pub fn label(self) -> &'static str {
        self.world()
    }
}

/// Checks that `component` exports `expected`'s interface at our version.
pub fn check(engine: &Engine, component: &Component, expected: Kind) -> Result<(), String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let want = format!("{PACKAGE}/{}@{VERSION}", expected.interface());
    if exports.contains(&want) {
        return Ok(());
    }
    let expected_desc = format!(
        "a `{}` plugin (world {PACKAGE}/{}@{VERSION}, exporting {want})",
        expected.world(),
        expected.world()
    );
    for e in &exports {
        let Some(rest) = e.strip_prefix(&format!("{PACKAGE}/")) else {
            continue;
        };
        let (iface, version) = rest.split_once('@').unwrap_or((rest, "?"));
        if let Some(kind) = Kind::ALL.iter().find(|k| k.interface() == iface) {
            if *kind == expected {
                return Err(format!(
                    "expected {expected_desc}, found the same interface at version {version}: rebuild it against {PACKAGE}@{VERSION}"
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
