//! Writes the API's contract (`chief::routes::contract`, from every group's declarations and
//! its handlers' types) for `main.rs` to serve: the schema code runs here, at build time, and
//! stays out of the function's binary. Cargo runs this again whenever `chief` changes.

fn main() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("openapi.json");
    std::fs::write(out, chief::routes::contract().to_string()).expect("the contract is written");
    println!("cargo:rerun-if-changed=build.rs");
}
