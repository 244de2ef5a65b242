//! The WIT boundary, converted in one place: `table.rs` is the conversion table
//! ([`wit_convert!`](crate::wit_convert)), and `query.rs` its part for queries and text
//! indexes, which the table expands at its end.

mod query;
mod table;
