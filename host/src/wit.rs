//! The conversion table of `veles::wit_convert!`, over wasmtime's bindgen types: the same
//! table the component's glue expands over wit-bindgen's, so both sides of the boundary agree.

#![allow(dead_code)]

use crate::runtime::veles::db::types as t;
veles::wit_convert!();
