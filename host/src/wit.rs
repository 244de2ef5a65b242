//! The conversion table of `veles::wit_convert!`, over wasmtime's bindgen types: the same
//! table the component's glue expands over wit-bindgen's, so both sides of the boundary agree.

#![allow(dead_code)]

use crate::runtime::veles::db::types as t;
veles::wit_convert!();

#[cfg(test)]
mod tests {
    use super::*;
    use veles::{IndexKind, Limit, Plan, PlanKind, VectorMemory};

    /// The table's host-side expansion needs wildcard arms (the engine's enums are
    /// non-exhaustive outside their crate): every variant, from the engine's complete `ALL`
    /// lists, must cross and come back as itself, never as a wildcard's stand-in.
    #[test]
    fn every_enum_variant_crosses_the_table_as_itself() {
        for k in IndexKind::ALL {
            assert_eq!(index_kind_from_wit(index_kind_to_wit(k)), k);
        }
        for m in VectorMemory::ALL {
            assert_eq!(vector_memory_from_wit(vector_memory_to_wit(m)), m);
        }
        for k in PlanKind::ALL {
            assert_eq!(plan_from_wit(plan_to_wit(Plan::new(k, None, 1.0))).kind, k);
        }
        for l in Limit::ALL {
            assert_eq!(limit_to_wit(l).map(limit_from_wit), Some(l));
        }
    }
}
