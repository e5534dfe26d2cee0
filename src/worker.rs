//! Worker process: hidden mode of the same binary.
mod clang;
