//! keepalived.conf front end: lexer, preprocessor (include, `@id`, `$VAR`, `~SEQ`),
//! block parser, keyword schema, typed model and diagnostics.

pub mod diag;
pub mod lexer;
pub mod parser;
pub mod preprocess;
pub mod source;
