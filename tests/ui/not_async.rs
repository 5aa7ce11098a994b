#[nbio::main]
fn main() {}
