//! Host bindings generated from the WIT package `warden:plugin@0.1.0` (`wit/v0.1.0`).
//!
//! The three worlds share the `types`, `log` and `config` interfaces of the validator bindings.
//! Exports and the `views` imports are async: a call runs on a fiber that yields to the executor at
//! every epoch tick, and a view read awaits the host's store.

pub(crate) mod validator {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "warden:plugin/validator@0.1.0",
        exports: { default: async },
    });
}

pub(crate) mod projection {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "warden:plugin/projection@0.1.0",
        imports: { "warden:plugin/views": async },
        exports: { default: async },
        with: {
            "warden:plugin/types": crate::wit::validator::warden::plugin::types,
            "warden:plugin/log": crate::wit::validator::warden::plugin::log,
            "warden:plugin/config": crate::wit::validator::warden::plugin::config,
        },
    });
}

pub(crate) mod action {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "warden:plugin/action@0.1.0",
        exports: { default: async },
        with: {
            "warden:plugin/types": crate::wit::validator::warden::plugin::types,
            "warden:plugin/log": crate::wit::validator::warden::plugin::log,
            "warden:plugin/config": crate::wit::validator::warden::plugin::config,
        },
    });
}
